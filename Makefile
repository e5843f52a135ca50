# Two commands do everything on a fresh machine: `make run` and `make test`.
SWIFT ?= swift
BIN := .build/release/clipascene
EXAMPLE := examples/bull.jpg

.PHONY: run test fuzz setup setup-test build install install-files clean

run: setup build
	@$(BIN) inspect $(EXAMPLE) >/dev/null
	@$(BIN) sketch $(EXAMPLE) --out out/bull
	@echo "Sketch of $(EXAMPLE): out/bull/combined.svg (also foreground.svg, background.svg, preview.png, mask.png)"

test: setup-test build
	$(SWIFT) test -c release --disable-swift-testing

# Coverage-guided fuzzing of every parser: make fuzz [TARGET=message|image|svg|pickle|onnx|snapshot|manifest] [SECONDS=60]
TARGET ?= all
SECONDS ?= 60
fuzz: setup
	scripts/fuzz $(TARGET) $(SECONDS)

setup:
	@scripts/setup

setup-test:
	@scripts/setup --test

build:
	@$(SWIFT) build -c release

# Installs the engine for other programs (the Python client finds it on PATH):
#   make install [PREFIX=~/.local]  ->  PREFIX/bin/clipascene, weights in PREFIX/share/clipascene/checkpoint
PREFIX ?= $(HOME)/.local
install: setup build install-files

# The copying alone (the tests use it: they run inside `swift test`, which holds the build folder).
install-files:
	@test -x $(BIN) || { echo "$(BIN) is not built: run make install" >&2; exit 1; }
	@install -D -m 755 $(BIN) "$(PREFIX)/bin/clipascene"
	@mkdir -p "$(PREFIX)/share/clipascene/checkpoint"
	@cp -R checkpoint/. "$(PREFIX)/share/clipascene/checkpoint/"
	@echo "Installed $(PREFIX)/bin/clipascene (weights in $(PREFIX)/share/clipascene/checkpoint)."
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "Add $(PREFIX)/bin to PATH to run it as clipascene (the Python client looks there too).";; esac

clean:
	rm -rf .build
