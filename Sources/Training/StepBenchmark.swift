import Adapters
import Diagnostics
import Foundation
import Models
import TrainingCore

/// Times training steps or inference forwards of a model on random token ids: the measurement
/// behind `tailor bench` and Scripts/bench's comparison with PyTorch.
public enum StepBenchmark {
    public enum Mode: String, Codable, Sendable { case train, infer }
    /// full: every parameter trained; lora: PEFT's usual LoRA (r 8, alpha 32, dropout 0.05 on
    /// query+value or q_proj+v_proj, the classifier trained in full) over a frozen base; qlora:
    /// the same over an NF4 base; dora: the same LoRA with DoRA; ia3: PEFT's default IA3 targets.
    public enum Method: String, Codable, Sendable, CaseIterable { case full, lora, qlora, dora, ia3 }

    /// The timings, what was timed and on which BLAS; `tailor bench train|infer --json` prints it.
    public struct Result: Codable, Sendable, Equatable {
        public var mode: Mode
        public var method: Method
        /// The head trained or run.
        public var task: ModelHead
        public var gradientCheckpointing: Bool
        public var computeDType: ComputeDType
        /// Sequences per step and tokens per sequence.
        public var batch: Int
        public var length: Int
        public var steps: Int
        public var tokensPerSecond: Double
        public var secondsPerStep: Double
        /// The loss of the last training step (none when inferring).
        public var finalLoss: Float?
        /// Bytes the base model's weights occupy (4-bit Linear weights at their packed size).
        public var baseWeightBytes: Int
        /// The part of those in Linear layers, the weights QLoRA quantizes (embeddings and norms
        /// stay f32, as in transformers + bitsandbytes).
        public var linearWeightBytes: Int
        /// Share of the cores' time spent in GEMM during the timed steps (GEMM seconds summed
        /// over threads / (wall seconds × threads)).
        public var gemmShare: Double
        /// Share of the step's wall time in the optimizer update (AdamW over every parameter:
        /// memory-bound, the same work PyTorch does).
        public var optimizerShare: Double
        /// Dequantizing 4-bit weight tiles for the GEMMs (QLoRA).
        public var dequantizeShare: Double
        /// What remains: norms, softmax, GELU, attention glue, losses, allocation.
        public var otherShare: Double
        /// The OpenBLAS core and the worker threads the steps ran on, for comparing runs.
        public var blas: String
        public var threads: Int
        /// The process's peak resident memory, loading included.
        public var peakMemoryBytes: Int

        public var tokensPerStep: Int { batch * length }

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case mode, method, task, batch, steps, blas, threads
            case gradientCheckpointing = "gradient_checkpointing"
            case computeDType = "compute_dtype"
            case peakMemoryBytes = "peak_memory_bytes"
            case length = "seq"
            case tokensPerSecond = "tokens_per_s"
            case secondsPerStep = "seconds_per_step"
            case finalLoss = "loss"
            case baseWeightBytes = "base_weight_bytes"
            case linearWeightBytes = "linear_weight_bytes"
            case gemmShare = "gemm_share"
            case optimizerShare = "optimizer_share"
            case dequantizeShare = "dequantize_share"
            case otherShare = "other_share"
        }
    }

    /// Runs one warm-up step then `steps` timed ones. Training: forward, loss, backward and an
    /// AdamW update of every parameter (full fine-tuning), dropout as configured.
    public static func run(
        folder: String, mode: Mode, method: Method = .full, task: Dataset.Task? = nil, batch: Int, length: Int, steps: Int,
        gradientCheckpointing: Bool = false, computeDType: ComputeDType = .f32, seed: UInt64 = 0, progress: ((Int, Double) -> Void)? = nil
    ) throws -> Result {
        let family = try ModelFamilies.family(ofFolder: folder)
        let head = family.head(for: task?.head)
        if let task, head != task.head {
            throw ModelError(file: folder + "/config.json", "a \(family.name) model has no \(task.rawValue) head")
        }
        let model = try ModelLoader.load(
            folder: folder, head: head, trainable: mode == .train && method == .full,
            quantize: method == .qlora ? .nf4 : nil)
        model.gradientCheckpointing = gradientCheckpointing
        model.computeDType = computeDType
        let (baseWeightBytes, linearWeightBytes) = Self.weightBytes(model.namedParameters, model)
        var trainable: [Tensor] = model.namedParameters.map(\.1).filter(\.requiresGrad)
        switch method {
        case .full: break
        case .lora, .qlora, .dora:
            var config = LoRAConfig(
                r: 8, alpha: 32, targets: .names(family.defaultLoRATargets), dropout: 0.05,
                modulesToSave: model.classificationHeadName.map { [$0] } ?? [], taskType: model.head.peftTaskType)
            config.useDoRA = method == .dora
            trainable = try LoRAModel(base: model, config: config, seed: seed).trainableParameters.map(\.1)
        case .ia3:
            let config = TaskModel.defaultIA3(for: model)
            trainable = try IA3Model(base: model, config: config, file: folder).trainableParameters.map(\.1)
        }
        var rng = RandomGenerator(seed: seed)
        let vocab = model.vocabularySize
        if let capacity = model.tokenCapacity, length > capacity {
            throw ModelError(file: folder + "/config.json", "sequences of \(length) tokens exceed max_position_embeddings \(capacity)")
        }
        let ids = (0..<batch).map { _ in (0..<length).map { _ in Int(rng.next() % UInt64(vocab)) } }
        let tokens = TokenBatch(ids: ids)
        let labels = (0..<batch).map { _ in Int(rng.next() % UInt64(max(model.labels.count, 1))) }
        let optimizer = mode == .train ? AdamW(parameters: trainable, learningRate: 1e-5) : nil
        var lastLoss: Float?
        var optimizerSeconds = 0.0
        func step() {
            let graph = Graph(recording: mode == .train, training: mode == .train, computeDType: computeDType)
            guard mode == .train else {
                _ = model.forward(graph, tokens)
                return
            }
            let loss = model.loss(graph, tokens, targets: model.head == .causalLM ? tokens.ids : labels).loss
            lastLoss = loss.values[0]
            optimizer?.zeroGrad()
            graph.backward(loss)
            let updateStart = Date()
            optimizer?.update()
            optimizerSeconds += Date().timeIntervalSince(updateStart)
        }
        step()
        BLAS.measuresTime = true
        defer { BLAS.measuresTime = false }
        let gemmBefore = BLAS.gemmSeconds, dequantizeBefore = BLAS.dequantizeSeconds
        optimizerSeconds = 0
        let start = Date()
        for index in 0..<steps {
            step()
            progress?(index + 1, Date().timeIntervalSince(start))
        }
        let seconds = Date().timeIntervalSince(start)
        let perStep = seconds / Double(max(steps, 1))
        let gemmShare = (BLAS.gemmSeconds - gemmBefore) / (seconds * Double(Parallel.workers))
        let dequantizeShare = (BLAS.dequantizeSeconds - dequantizeBefore) / (seconds * Double(Parallel.workers))
        let optimizerShare = optimizerSeconds / seconds
        return Result(
            mode: mode, method: method, task: head,
            gradientCheckpointing: gradientCheckpointing, computeDType: computeDType, batch: batch, length: length, steps: steps,
            tokensPerSecond: Double(batch * length) / perStep, secondsPerStep: perStep, finalLoss: lastLoss,
            baseWeightBytes: baseWeightBytes, linearWeightBytes: linearWeightBytes, gemmShare: gemmShare,
            optimizerShare: optimizerShare, dequantizeShare: dequantizeShare,
            otherShare: max(0, 1 - gemmShare - optimizerShare - dequantizeShare), blas: BLAS.coreName,
            threads: Parallel.workers, peakMemoryBytes: peakResidentBytes())
    }

    /// The base's weights: dense parameters in f32 plus 4-bit and bf16 Linear weights as stored
    /// (packed codes and block scales; 2 bytes each), before any adapter is added; and the Linear
    /// weights' share.
    static func weightBytes(_ parameters: [(String, Tensor)], _ model: AdaptableModel) -> (total: Int, linear: Int) {
        var dense = parameters.reduce(0) { $0 + $1.1.count * 4 }
        var linear = 0
        for name in model.linearModuleNames {
            guard let weight = model.linear(named: name)?.weight else { continue }
            linear += weight.storedBytes
            if case .dense = weight { continue }
            dense += weight.storedBytes  // not among the f32 parameters
        }
        return (dense, linear)
    }
}
