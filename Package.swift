// swift-tools-version:6.0
// Tailor: parameter-efficient fine-tuning of transformer models, one native binary.
// The module cut follows ../shared/ARCHITECTURE.md: dependencies point downward only,
// and the format modules never import the engine.
import PackageDescription

let package = Package(
    name: "Tailor",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "SafeTensors", targets: ["SafeTensors"]),
        .library(name: "GGUF", targets: ["GGUF"]),
        .library(name: "Export", targets: ["Export"]),
        .library(name: "Quantization", targets: ["Quantization"]),
        .library(name: "TrainingCore", targets: ["TrainingCore"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Jinja", targets: ["Jinja"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Adapters", targets: ["Adapters"]),
        .library(name: "Registry", targets: ["Registry"]),
        .library(name: "Workflows", targets: ["Workflows"]),
        .library(name: "Serving", targets: ["Serving"]),
        .executable(name: "tailor", targets: ["TailorCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The one-line "file: problem" error every module reports.
        .target(name: "Diagnostics"),
        // The checkpoint format: mmap reader, streaming writer, dtypes and conversions,
        // sharded checkpoints. Depends on nothing but Foundation.
        .target(name: "SafeTensors"),
        // llama.cpp's GGUF format: strict reader, writer, ggml block formats.
        .target(name: "GGUF", dependencies: ["Diagnostics", "SafeTensors"]),
        // Writing and reading the other ecosystems' files: llama.cpp GGUF models and adapters, mlx-lm adapters.
        .target(name: "Export", dependencies: ["Diagnostics", "SafeTensors", "GGUF", "Adapters", "Models", "Tokenizers", "TrainingCore"]),
        // Hot loops of 4-bit quantization in C (vectorised, AVX-512 chosen at run time).
        .target(name: "CQuantizationKernels"),
        // NF4/FP4 codebooks, blockwise and double quantization, the bitsandbytes checkpoint layout.
        .target(name: "Quantization", dependencies: ["SafeTensors", "CQuantizationKernels"]),
        // Element-wise and row-wise hot loops of the training core (vectorised C).
        .target(name: "CTrainingKernels"),
        // Tensor, tape autodiff with fused backward ops, GEMM through OpenBLAS (loaded at run
        // time), NF4 frozen matmul, optimizers, schedules, seeded RNG.
        .target(name: "TrainingCore", dependencies: ["Diagnostics", "CTrainingKernels", "Quantization", "SafeTensors"]),
        // Jinja templates rendered as transformers renders chat templates (Foundation only).
        .target(name: "Jinja"),
        // tokenizer.json: WordPiece, byte-level BPE, Metaspace/byte-fallback BPE; chat templates.
        .target(name: "Tokenizers", dependencies: ["Diagnostics", "Jinja"]),
        // BERT and Llama-family models built from Hugging Face folders, with HF parameter names.
        .target(name: "Models", dependencies: ["Diagnostics", "Tokenizers", "TrainingCore", "Quantization", "SafeTensors"]),
        // PEFT methods injected into the models, PEFT-format load/save.
        .target(name: "Adapters", dependencies: ["Diagnostics", "Models", "TrainingCore", "SafeTensors"]),
        // Classification and generation (KV cache, sampling) over model folders.
        .target(
            name: "Inference",
            dependencies: ["Diagnostics", "Models", "Adapters", "Tokenizers", "Quantization", "SafeTensors", "TrainingCore"]),
        // Open MPI opened with dlopen at run time (never linked): a plain `tailor` needs no MPI.
        .target(name: "CMPILoader"),
        // The processes of a data-parallel run: rank, size, all-reduce, broadcast (MPI or one process).
        .target(name: "Collectives", dependencies: ["CMPILoader"]),
        // Training loops and their measurement (the Trainer arrives with adapters).
        .target(
            name: "Training",
            dependencies: [
                "Diagnostics", "Models", "Adapters", "Inference", "Tokenizers", "Quantization", "SafeTensors", "TrainingCore",
                "Collectives",
            ]),
        // System compression libraries, found with pkg-config (libzstd-dev, zlib1g-dev).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Adapter storage: the lossless tensor codec (byte grouping + zstd, zlib fallback) and
        // content-addressed blobs (SHA-256).
        .target(
            name: "Registry",
            dependencies: [
                "Diagnostics", "SafeTensors", "Quantization", "CZstd", "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        // Jobs that span modules, as library calls the CLI and a server share: resolving adapter
        // references, saving new adapters to a folder and/or the registry, the demo pipeline.
        .target(
            name: "Workflows",
            dependencies: [
                "Diagnostics", "Models", "Adapters", "Inference", "Training", "Registry", "Quantization",
                "SafeTensors", "Collectives",
            ]),
        // `tailor serve`: an OpenAI-shaped HTTP API over one engine thread that owns the model and
        // decodes every running request, whatever its adapter, in one continuous batch.
        .target(
            name: "Serving",
            dependencies: [
                "Diagnostics", "Models", "Adapters", "Inference", "Tokenizers", "Jinja", "Workflows", "Registry", "TrainingCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        // The `tailor` executable: parsing and printing only.
        .executableTarget(
            name: "TailorCLI",
            dependencies: [
                "Diagnostics",
                "SafeTensors",
                "Quantization",
                "TrainingCore",
                "Models",
                "Tokenizers",
                "Inference",
                "Training",
                "Registry",
                "Workflows",
                "Serving",
                "Export",
                "Collectives",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Timing harness for Scripts/bench (not shipped as part of `tailor`).
        .executableTarget(
            name: "TailorBench", dependencies: ["SafeTensors", "Quantization", "TrainingCore", "Registry", "CZstd", "Collectives"]),
        // Helpers shared by the test targets (temporary folders, fixture paths).
        .target(name: "TailorTestSupport", path: "Tests/TailorTestSupport"),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TailorTestSupport"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", "SafeTensors", "TailorTestSupport"]),
        .testTarget(
            name: "ExportTests", dependencies: ["Export", "Adapters", "Models", "SafeTensors", "TrainingCore", "TailorTestSupport"]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "SafeTensors", "TailorTestSupport"]),
        .testTarget(name: "TrainingCoreTests", dependencies: ["TrainingCore", "CTrainingKernels", "SafeTensors", "TailorTestSupport"]),
        .testTarget(name: "AdaptersTests", dependencies: ["Adapters", "Models", "TrainingCore", "SafeTensors", "TailorTestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Adapters", "Models", "TrainingCore", "TailorTestSupport"]),
        .testTarget(
            name: "CollectivesTests",
            dependencies: ["Collectives", "Training", "Adapters", "Models", "TrainingCore", "SafeTensors", "TailorTestSupport"]),
        .testTarget(
            name: "WorkflowsTests",
            dependencies: ["Workflows", "Adapters", "Inference", "Registry", "Training", "TailorTestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Adapters", "SafeTensors", "TrainingCore", "TailorTestSupport"]),
        .testTarget(
            name: "ServingTests",
            dependencies: ["Serving", "Inference", "Workflows", "Adapters", "TailorTestSupport"]),
        .testTarget(name: "JinjaTests", dependencies: ["Jinja", "TailorTestSupport"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "Jinja", "TailorTestSupport"]),
        .testTarget(
            name: "ModelsTests", dependencies: ["Models", "Tokenizers", "TrainingCore", "Quantization", "SafeTensors", "TailorTestSupport"]),
        // Runs the built `tailor` binary on fixtures; depends on the executable so it is built.
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "SafeTensors", "TailorTestSupport"]),
        .testTarget(
            name: "TailorCLITests",
            dependencies: [
                "TailorCLI", "SafeTensors", "Adapters", "Inference", "Training", "TailorTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
    ]
)
