import TrainingCore

/// The options of a run, with the meanings users know from transformers' `TrainingArguments`.
public struct TrainingArguments: Sendable {
    public enum EvalStrategy: String, Sendable, CaseIterable { case no, steps, epoch }

    /// Passes over the training data.
    public var epochs: Double = 3
    /// Examples per forward pass.
    public var batchSize = 8
    /// Forward passes whose gradients are summed before each optimizer step.
    public var gradientAccumulation = 1
    /// Peak learning rate (after warmup).
    /// PEFT's usual LoRA rate, what the CLI has always used; transformers' 5e-5 suits full fine-tuning.
    public var learningRate: Float = 2e-4
    /// AdamW's decoupled weight decay.
    public var weightDecay: Float = 0
    /// Warmup as a fraction of all optimizer steps, unless `warmupSteps` is given.
    public var warmupRatio: Double = 0
    public var warmupSteps: Int?
    public var scheduler: LearningRateSchedule.Kind = .linear
    /// Global gradient-norm limit (0: none).
    public var maxGradNorm: Float = 1
    public var evalStrategy: EvalStrategy = .no
    public var evalSteps = 500
    /// Checkpoint every this many optimizer steps (0: only at evaluations and the end).
    public var saveSteps = 0
    /// Keep at most this many checkpoints (the best one is never deleted).
    public var saveTotalLimit: Int?
    /// Stop after this many evaluations without improvement (nil: never).
    public var earlyStoppingPatience: Int?
    /// The metric that decides "better": accuracy, f1, loss, perplexity.
    public var metric: String?
    /// Improvement smaller than this does not count.
    public var earlyStoppingThreshold: Double = 0
    /// Restore the best checkpoint's weights at the end.
    public var loadBestAtEnd = false
    public var seed: UInt64 = 42
    /// Log the training loss every this many optimizer steps.
    public var loggingSteps = 10
    /// Recompute each layer in backward instead of keeping its activations (transformers'
    /// `gradient_checkpointing`): less memory, one more forward pass per step.
    public var gradientCheckpointing = false
    /// The forward pass's precision (``ComputeDType``); gradients and optimizer state stay f32.
    /// f32 unless asked: training's numerics (and PEFT parity) do not change with the folder.
    public var computeDType = ComputeDType.f32

    public init() {}
}
