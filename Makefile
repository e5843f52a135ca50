# Two commands do everything on a fresh machine: `make run` and `make test`.
SWIFT ?= swift
BIN := .build/release/clipascene
EXAMPLE := examples/bull.jpg

.PHONY: run test fuzz setup setup-test build clean

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

clean:
	rm -rf .build
