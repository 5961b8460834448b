import Foundation

extension MethodComparison {
    /// `compare.json`: the settings every method shared and what each measured.
    public struct Report: Codable, Sendable, Equatable {
        public var model: String
        public var data: String
        public var evalData: String
        public var task: String
        public var epochs: Double
        /// The key in each method's `metrics` that ranks them (``MethodComparison/metricName(for:)``).
        public var metric: String
        public var methods: [MethodResult]

        public init(
            model: String, data: String, evalData: String, task: String, epochs: Double, metric: String, methods: [MethodResult]
        ) {
            (self.model, self.data, self.evalData, self.task) = (model, data, evalData, task)
            (self.epochs, self.metric, self.methods) = (epochs, metric, methods)
        }

        enum CodingKeys: String, CodingKey {
            case model, data, evalData = "eval_data", task, epochs, metric, methods
        }

        /// Pretty-printed with sorted keys; every number is finite (a non-finite one is null).
        public func json() throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
        }

        /// The methods that trained and were evaluated.
        public var succeeded: [MethodResult] { methods.filter { $0.error == nil } }

        /// What `--json` prints after the methods: the shared settings and where the results are.
        public func summary(output: String) -> Summary {
            Summary(
                model: model, data: data, evalData: evalData, task: task, epochs: epochs, metric: metric,
                compareJSON: output + "/" + MethodComparison.resultFile, report: output + "/" + MethodComparison.reportFile,
                succeeded: succeeded.count, failed: methods.count - succeeded.count)
        }
    }

    /// One method's measurements. A field the method never reached (training failed) is null,
    /// and `error` says why; keys are always present so readers need not guess the schema.
    public struct MethodResult: Codable, Sendable, Equatable {
        public var method: String
        /// The folder `tailor train` wrote (an adapter, or a whole model for full and BitFit).
        public var output: String
        public var trainableParameters: Int?
        public var totalParameters: Int?
        /// Bytes of the saved weights: `adapter_model.safetensors`, or a full model's safetensors.
        public var adapterBytes: Int?
        /// The training process's peak resident memory (its `ru_maxrss`), model loading included.
        public var peakMemoryBytes: Int?
        /// Wall time of the training process, start to exit.
        public var trainSeconds: Double?
        /// Real (unpadded) tokens trained per second of the training loop.
        public var tokensPerSecond: Double?
        public var samplesPerSecond: Double?
        /// `tailor eval`'s numbers on the held-out data: examples, loss and the task's metrics.
        public var metrics: [String: Double]?
        public var lossCurve: [LossPoint] = []
        public var error: String?

        public init(method: String, output: String) {
            (self.method, self.output) = (method, output)
        }

        enum CodingKeys: String, CodingKey {
            case method, output, trainableParameters = "trainable_parameters", totalParameters = "total_parameters"
            case adapterBytes = "adapter_bytes", peakMemoryBytes = "peak_memory_bytes", trainSeconds = "train_seconds"
            case tokensPerSecond = "tokens_per_second", samplesPerSecond = "samples_per_second", metrics
            case lossCurve = "loss_curve", error
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(method, forKey: .method)
            try container.encode(output, forKey: .output)
            try container.encode(trainableParameters, forKey: .trainableParameters)
            try container.encode(totalParameters, forKey: .totalParameters)
            try container.encode(adapterBytes, forKey: .adapterBytes)
            try container.encode(peakMemoryBytes, forKey: .peakMemoryBytes)
            try container.encode(trainSeconds, forKey: .trainSeconds)
            try container.encode(tokensPerSecond, forKey: .tokensPerSecond)
            try container.encode(samplesPerSecond, forKey: .samplesPerSecond)
            try container.encode(metrics, forKey: .metrics)
            try container.encode(lossCurve, forKey: .lossCurve)
            try container.encode(error, forKey: .error)
        }
    }

    /// One logged training step: the mean loss since the previous one.
    public struct LossPoint: Codable, Sendable, Equatable {
        public var step: Int
        public var loss: Double

        public init(step: Int, loss: Double) { (self.step, self.loss) = (step, loss) }
    }

    /// The last line of `tailor compare --json`.
    public struct Summary: Codable, Sendable {
        public var model, data, evalData, task: String
        public var epochs: Double
        public var metric: String
        public var compareJSON, report: String
        public var succeeded, failed: Int

        enum CodingKeys: String, CodingKey {
            case model, data, evalData = "eval_data", task, epochs, metric, compareJSON = "compare_json", report, succeeded, failed
        }
    }
}
