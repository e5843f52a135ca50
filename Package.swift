// swift-tools-version: 6.0
import PackageDescription

// Release builds get AVX2/FMA: the renderer and depthwise kernels are SIMD8 loops
// that run several times faster with them (engineering notes). Debug stays portable.
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-target-cpu", "haswell"],
                 .when(configuration: .release)),
]

let package = Package(
    name: "CLIPascene",
    products: [
        .executable(name: "clipascene", targets: ["clipascene"]),
        .executable(name: "clipascene-fuzz", targets: ["clipascene-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Layer 1: system-library shims.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        // Layer 2: tensors and threads.
        .target(name: "Tensors", dependencies: ["CBLAS"], swiftSettings: fastMath),
        // Layer 3: images.
        .target(name: "Imaging", dependencies: ["Tensors", "CPNG", "CJPEG"], swiftSettings: fastMath),
        // Layer 4: strokes, the differentiable rasteriser, SVG. Layer 5: weights and networks.
        .target(name: "Vector", dependencies: ["Tensors", "Imaging"], swiftSettings: fastMath),
        .target(name: "Models", dependencies: ["Tensors", "Imaging"], swiftSettings: fastMath),
        // Layer 6: the CLIPascene engine.
        .target(name: "Sketching", dependencies: ["Tensors", "Imaging", "Vector", "Models"], swiftSettings: fastMath),
        // Layer 7: the JSON-RPC engine over stdio: the JSON-RPC framing and errors, the
        // protocol's types, and the server (lifecycle, documents, scheduling).
        .target(name: "JSONRPC", swiftSettings: fastMath),
        .target(name: "ServerProtocol", dependencies: ["JSONRPC"], swiftSettings: fastMath),
        .target(name: "Server", dependencies: ["JSONRPC", "ServerProtocol", "Imaging", "Vector", "Models", "Sketching"], swiftSettings: fastMath),
        // Layer 8: the executable.
        .executableTarget(
            name: "clipascene",
            dependencies: [
                "Tensors", "Imaging", "Vector", "Models", "Sketching", "JSONRPC", "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fastMath),
        // Every parser of outside bytes as a libFuzzer target (scripts/fuzz builds it with
        // -D FUZZING); built plainly it replays inputs, which the tests use for regressions.
        .executableTarget(name: "clipascene-fuzz", dependencies: ["Imaging", "Vector", "Models", "Sketching", "JSONRPC", "Server"],
                          swiftSettings: fastMath),
        // What the test targets share: the repository root, fixtures, the encoder loaded once,
        // deterministic values, the executable (never a stale one), missing set-up as a skip
        // or, under CI, a failure.
        .target(name: "TestSupport", dependencies: ["Models", "Tensors"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "CJPEG", "TestSupport"]),
        .testTarget(name: "VectorTests", dependencies: ["Vector", "Imaging", "Models", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "TestSupport"]),
        .testTarget(name: "SketchingTests", dependencies: ["Sketching", "Models", "Vector", "Imaging", "Tensors", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Imaging", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["JSONRPC", "ServerProtocol", "Server", "Imaging", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
