import CoreMetrics
import Prometheus

/// What `GET /metrics` reports, through swift-metrics into a Prometheus registry of this server's
/// own (not the process-wide bootstrap, so several servers in one process, as in tests, stay apart).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    let queueLength: CoreMetrics.Gauge
    let runningBatch: CoreMetrics.Gauge
    let promptTokens: CoreMetrics.Counter
    let generatedTokens: CoreMetrics.Counter
    let timeToFirstToken: CoreMetrics.Timer
    let timePerToken: CoreMetrics.Timer
    let adaptersLoaded: CoreMetrics.Gauge
    let adapterLoads: CoreMetrics.Counter
    let adapterEvictions: CoreMetrics.Counter
    let decodeSteps: CoreMetrics.Counter

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let latency: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].map { .milliseconds($0) }
        factory.durationHistogramBuckets = ["tailor_time_to_first_token_seconds": latency, "tailor_time_per_output_token_seconds": latency]
        self.factory = factory
        queueLength = CoreMetrics.Gauge(label: "tailor_queue_length", factory: factory)
        runningBatch = CoreMetrics.Gauge(label: "tailor_running_batch_size", factory: factory)
        promptTokens = CoreMetrics.Counter(label: "tailor_prompt_tokens_total", factory: factory)
        generatedTokens = CoreMetrics.Counter(label: "tailor_generated_tokens_total", factory: factory)
        timeToFirstToken = CoreMetrics.Timer(label: "tailor_time_to_first_token_seconds", factory: factory)
        timePerToken = CoreMetrics.Timer(label: "tailor_time_per_output_token_seconds", factory: factory)
        adaptersLoaded = CoreMetrics.Gauge(label: "tailor_adapters_loaded", factory: factory)
        adapterLoads = CoreMetrics.Counter(label: "tailor_adapter_loads_total", factory: factory)
        adapterEvictions = CoreMetrics.Counter(label: "tailor_adapter_evictions_total", factory: factory)
        decodeSteps = CoreMetrics.Counter(label: "tailor_decode_steps_total", factory: factory)
    }

    /// Counts a finished HTTP request by endpoint and status.
    func request(endpoint: String, status: Int) {
        CoreMetrics.Counter(
            label: "tailor_requests_total", dimensions: [("endpoint", endpoint), ("status", String(status))], factory: factory
        )
        .increment()
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> String { registry.emitToString() }
}
