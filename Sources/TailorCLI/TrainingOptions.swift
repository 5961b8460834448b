import ArgumentParser
import Training
import TrainingCore

/// The optimisation and schedule options of `tailor train`, with the library's defaults
/// (``TrainingArguments``), so the command line and library calls train the same way.
struct TrainingOptions: ParsableArguments {
    private static let defaults = TrainingArguments()

    @Option(help: "Epochs.") var epochs: Double = defaults.epochs
    @Option(help: "Examples per step.") var batchSize = defaults.batchSize
    @Option(help: "Gradient accumulation steps.") var gradAccum = defaults.gradientAccumulation
    @Option(help: "Peak learning rate.") var lr: Float = defaults.learningRate
    @Option(help: "AdamW weight decay.") var weightDecay: Float = defaults.weightDecay
    @Option(help: "Warmup as a fraction of all steps.") var warmupRatio: Double = defaults.warmupRatio
    @Option(help: "Warmup steps (overrides --warmup-ratio).") var warmupSteps: Int?
    @Option(help: "The learning-rate schedule after warmup.") var scheduler: LearningRateSchedule.Kind = defaults.scheduler
    @Option(help: "Gradient-norm clipping (0: off).") var maxGradNorm: Float = defaults.maxGradNorm
    @Option(help: "When to evaluate.") var evalStrategy: TrainingArguments.EvalStrategy = defaults.evalStrategy
    @Option(help: "Evaluate every N steps (--eval-strategy steps).") var evalSteps = defaults.evalSteps
    @Option(help: "Checkpoint every N steps (0: at evaluations only).") var saveSteps = defaults.saveSteps
    @Option(help: "Report the loss every N steps (the first step always).") var loggingSteps = defaults.loggingSteps
    @Option(help: "Keep at most N checkpoints (the best is kept).") var saveTotalLimit: Int?
    @Option(help: "Stop after N evaluations without improvement.") var earlyStoppingPatience: Int?
    @Option(help: "Metric for best/early stopping: accuracy, f1, loss, perplexity.") var metric: String?
    @Option(help: "Smallest improvement that counts.") var earlyStoppingThreshold: Double = defaults.earlyStoppingThreshold
    @Flag(help: "Restore the best checkpoint at the end.") var loadBestAtEnd = false
    @Flag(help: "Recompute each layer in backward instead of keeping its activations (less memory, ~1/3 more compute).")
    var gradientCheckpointing = false
    @Option(name: .customLong("compute-dtype"), help: "Forward precision: f32, or bf16 as transformers computes a bfloat16 model.")
    var computeDType: ComputeDType = .f32
    @Option(help: "Random seed (data order, initialisation, dropout).") var seed: UInt64 = defaults.seed

    func validate() throws {
        try requireRange(batchSize > 0, "--batch-size", "a positive integer", batchSize)
        try requireRange(gradAccum > 0, "--grad-accum", "a positive integer", gradAccum)
        try requireRange(epochs.isFinite && epochs > 0 && epochs <= 1e6, "--epochs", "in (0, 1000000]", epochs)
        try requireRange(lr.isFinite && lr >= 0, "--lr", "a finite number ≥ 0", lr)
        try requireRange(maxGradNorm.isFinite && maxGradNorm >= 0, "--max-grad-norm", "a finite number ≥ 0 (0: off)", maxGradNorm)
        try requireRange(weightDecay.isFinite && weightDecay >= 0, "--weight-decay", "a finite number ≥ 0", weightDecay)
        try requireRange(warmupRatio >= 0 && warmupRatio <= 1, "--warmup-ratio", "in [0, 1]", warmupRatio)
        try requireRange((warmupSteps ?? 0) >= 0, "--warmup-steps", "not negative", warmupSteps ?? 0)
        try requireRange((saveTotalLimit ?? 1) > 0, "--save-total-limit", "a positive integer", saveTotalLimit ?? 0)
        try requireRange((earlyStoppingPatience ?? 1) > 0, "--early-stopping-patience", "a positive integer", earlyStoppingPatience ?? 0)
        try requireRange(
            earlyStoppingThreshold.isFinite && earlyStoppingThreshold >= 0, "--early-stopping-threshold",
            "a finite number ≥ 0", earlyStoppingThreshold)
        guard loggingSteps > 0, evalSteps > 0, saveSteps >= 0 else {
            throw ValidationError("--logging-steps and --eval-steps must be positive, --save-steps not negative")
        }
    }

    var arguments: TrainingArguments {
        var arguments = TrainingArguments()
        arguments.epochs = epochs
        arguments.batchSize = batchSize
        arguments.gradientAccumulation = gradAccum
        arguments.learningRate = lr
        arguments.weightDecay = weightDecay
        arguments.warmupRatio = warmupRatio
        arguments.warmupSteps = warmupSteps
        arguments.scheduler = scheduler
        arguments.maxGradNorm = maxGradNorm
        arguments.evalStrategy = evalStrategy
        arguments.evalSteps = evalSteps
        arguments.saveSteps = saveSteps
        arguments.loggingSteps = loggingSteps
        arguments.saveTotalLimit = saveTotalLimit
        arguments.earlyStoppingPatience = earlyStoppingPatience
        arguments.metric = metric
        arguments.earlyStoppingThreshold = earlyStoppingThreshold
        arguments.loadBestAtEnd = loadBestAtEnd
        arguments.seed = seed
        arguments.gradientCheckpointing = gradientCheckpointing
        arguments.computeDType = computeDType
        return arguments
    }
}
