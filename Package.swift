// swift-tools-version:6.0
import PackageDescription

// Hot kernels index raw pointers with wrapping arithmetic; exclusivity checks on the
// tensor engine's classes cost more than the work they guard, so they are off there.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"]),
]

let package = Package(
    name: "NEO-train",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "neo-train", targets: ["neo-train"]),
        .library(name: "NeoTensor", targets: ["NeoTensor"]),
        .library(name: "NeoNN", targets: ["NeoNN"]),
        .library(name: "NeoIO", targets: ["NeoIO"]),
        .library(name: "NeoTrain", targets: ["NeoTrain"]),
        .library(name: "NeoExport", targets: ["NeoExport"]),
        .library(name: "Governance", targets: ["Governance"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev, libhdf5-dev, libsndfile1-dev, libzstd-dev).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CSndfile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        .systemLibrary(name: "CEspeak", pkgConfig: "espeak-ng", providers: [.apt(["libespeak-ng-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // Open MPI's C API (Debian: libopenmpi-dev, openmpi-bin for mpirun).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi", providers: [.apt(["libopenmpi-dev"])]),

        .target(name: "NeoTensor", dependencies: ["CBLAS"], swiftSettings: kernelSettings),
        .target(name: "NeoNN", dependencies: ["NeoTensor"], swiftSettings: kernelSettings),
        .target(name: "NeoIO", dependencies: ["NeoTensor", "CHDF5", "CZstd"]),
        .target(name: "NeoAudio", dependencies: ["NeoTensor", "NeoNN", "NeoIO", "CBLAS", "CSndfile", "CFFTW", "CSoxr"],
                swiftSettings: kernelSettings),
        // Software renderer of the talking head (rasteriser, shading, identities); below NeoData.
        .target(name: "HeadRender", dependencies: ["NeoTensor"], swiftSettings: kernelSettings),
        .target(name: "NeoData", dependencies: [
            "NeoTensor", "NeoIO", "NeoAudio", "CEspeak",
            "HeadRender", "CPNG",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Vocal", dependencies: ["NeoTensor", "NeoNN"], swiftSettings: kernelSettings),
        .target(name: "RewardModel", dependencies: ["NeoTensor", "NeoNN"], swiftSettings: kernelSettings),
        // Pictar renderer: 3-D lift, motion deformation, translation (see docs/pictar.md).
        .target(name: "Pictar", dependencies: ["NeoTensor", "NeoNN"], swiftSettings: kernelSettings),
        .target(name: "KineticGRPO", dependencies: ["NeoTensor", "NeoNN", "Vocal", "RewardModel"], swiftSettings: kernelSettings),
        // MPI collectives for data-parallel training; a world of one without an MPI launcher.
        .target(name: "Distributed", dependencies: ["NeoTensor", "CMPI"]),
        .target(name: "NeoTrain", dependencies: [
            "NeoTensor", "NeoNN", "NeoIO", "NeoAudio", "NeoData", "Vocal", "RewardModel", "KineticGRPO",
            "Pictar", "HeadRender", "Distributed",
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // The ONNX protobuf schema as Swift (Sources/ONNXProto/onnx.pb.swift is generated once and
        // committed, so building needs no protoc); export writes it, Governance reads it.
        .target(name: "ONNXProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // ONNX and safetensors export of trained models.
        .target(name: "NeoExport", dependencies: [
            "NeoTensor", "NeoNN", "NeoIO", "Vocal", "RewardModel", "ONNXProto",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        // C shim over Debian's dlib (libdlib-dev): face detection, landmarks, aligned chips, identity
        // embeddings, PNG/JPEG decoding. dlib's own link line (pkg-config dlib-1) names these libraries.
        .target(name: "CDlibShim", cxxSettings: [.unsafeFlags(["-std=c++17", "-O2"])],
                linkerSettings: [.linkedLibrary("dlib"), .linkedLibrary("png"), .linkedLibrary("jpeg"),
                                 .linkedLibrary("blas"), .linkedLibrary("lapack"), .linkedLibrary("stdc++")]),
        // Consent v2, protected identities, the age model and the gate every photo and video passes.
        .target(name: "Governance", dependencies: [
            "NeoTensor", "NeoNN", "NeoIO", "ONNXProto", "CDlibShim",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], swiftSettings: kernelSettings),
        .executableTarget(name: "neo-train", dependencies: [
            "NeoTrain", "NeoExport",
            "Governance",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Test support: finite-difference gradcheck, comparison and cross-check helpers shared by
        // all tests (outside tools run through NeoAudio's Subprocess).
        .target(name: "NeoTestSupport", dependencies: ["NeoTensor", "NeoAudio"]),
        // Runs an engine misuse by name so a test can observe the trap from outside.
        .executableTarget(name: "neo-tensor-probe", dependencies: ["NeoTensor"]),
        // Runs the MPI collectives on known inputs, for tests that launch it under mpirun.
        .executableTarget(name: "neo-mpi-probe", dependencies: ["Distributed", "NeoTensor"]),

        // Each test target declares every module it imports.
        .testTarget(name: "NeoTensorTests", dependencies: ["NeoTensor", "NeoIO", "NeoTestSupport", "neo-tensor-probe"]),
        .testTarget(name: "NeoNNTests", dependencies: ["NeoNN", "NeoTensor", "NeoIO", "NeoTestSupport"]),
        .testTarget(name: "NeoIOTests", dependencies: ["NeoIO", "NeoTensor", "NeoTestSupport"]),
        .testTarget(name: "NeoAudioTests", dependencies: ["NeoAudio", "NeoNN", "NeoTensor", "NeoIO", "NeoTestSupport"]),
        .testTarget(name: "HeadRenderTests", dependencies: ["HeadRender", "NeoData", "NeoIO", "NeoTensor", "NeoTestSupport"]),
        .testTarget(name: "NeoDataTests", dependencies: [
            "NeoData", "NeoAudio", "NeoIO", "NeoTensor", "NeoTestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "VocalTests", dependencies: ["Vocal", "NeoNN", "NeoTensor", "NeoTestSupport"]),
        .testTarget(name: "RewardModelTests", dependencies: ["RewardModel", "NeoNN", "NeoTensor", "NeoTestSupport"]),
        .testTarget(name: "PictarTests", dependencies: [
            "Pictar", "NeoNN", "NeoTensor", "NeoIO", "NeoTestSupport",
            .product(name: "TOMLKit", package: "TOMLKit"),
        ]),
        .testTarget(name: "KineticGRPOTests", dependencies: ["KineticGRPO", "Vocal", "NeoNN", "NeoTensor", "NeoTestSupport"]),
        .testTarget(name: "NeoTrainTests", dependencies: [
            "NeoTrain", "KineticGRPO", "RewardModel", "Vocal", "NeoData", "NeoAudio", "NeoIO", "NeoNN", "NeoTensor",
            "NeoTestSupport", "neo-train",
        ]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "NeoTrain", "NeoTensor", "NeoIO", "NeoTestSupport", "neo-mpi-probe", "neo-train"]),
        .testTarget(name: "NeoExportTests", dependencies: [
            "NeoExport", "ONNXProto", "RewardModel", "Vocal", "NeoIO", "NeoNN", "NeoTensor", "NeoTestSupport", "neo-train",
        ]),
        .testTarget(name: "GovernanceTests", dependencies: ["Governance", "NeoIO", "NeoTensor", "NeoTestSupport", "neo-train"]),
    ],
    swiftLanguageModes: [.v6]
)
