import Foundation
import SafeTensors

/// report.html: the run's loss and metric curves as inline SVG, and the log as a table. The page
/// frame and the line chart are public so other reports (`tailor compare`'s) look the same.
public enum TrainingReport {
    static func write(state: TrainerState, metric: String, to path: String) throws {
        let losses = state.logHistory.compactMap { entry in entry.values["loss"].map { (entry.step, $0) } }
        let evalLosses = state.logHistory.compactMap { entry in entry.values["eval_loss"].map { (entry.step, $0) } }
        let evalMetric = state.logHistory.compactMap { entry in entry.values["eval_" + metric].map { (entry.step, $0) } }
        let best = state.bestMetric.map { String(format: "; best eval %@ %.4f", metric, $0) + " (\(state.bestCheckpoint ?? ""))" } ?? ""
        var html = pageHead(title: "Tailor training report")
        html += """
            <h1>Training report</h1>
            <p>\(state.globalStep) optimizer steps, \(state.epoch) epochs\(best).</p>
            <h2>Loss</h2>\(svg([("training loss", "#1f77b4", losses), ("validation loss", "#d62728", evalLosses)]))
            """
        if !evalMetric.isEmpty && metric != "loss" {
            html += "<h2>Validation \(metric)</h2>" + svg([("validation " + metric, "#2ca02c", evalMetric)])
        }
        html += "<h2>Log</h2><table><tr><th>step</th><th>epoch</th><th>values</th></tr>"
        for entry in state.logHistory {
            let values = entry.values.keys.sorted().map { String(format: "%@ %.5g", $0, entry.values[$0]!) }.joined(separator: ", ")
            html +=
                "<tr><td>\(entry.step)</td><td>\(String(format: "%.2f", entry.epoch))</td>"
                + "<td style=\"text-align:left\">\(values)</td></tr>"
        }
        html += "</table>" + pageFoot
        try ModelFolder.writeAtomically(Array(html.utf8), to: path)
    }

    /// The start of a self-contained report page (no external assets), up to the open body.
    public static func pageHead(title: String) -> String {
        """
        <!doctype html><html><head><meta charset="utf-8"><title>\(title)</title>
        <style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}\
        td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}</style>
        </head><body>
        """
    }

    public static let pageFoot = "</body></html>\n"

    /// Line charts of several series (name, CSS colour, (step, value) points) over steps, with
    /// axis labels and the names as a legend.
    public static func svg(_ series: [(String, String, [(Int, Double)])]) -> String {
        let points = series.flatMap(\.2)
        guard let maxStep = points.map(\.0).max(), let low = points.map(\.1).min(), let high = points.map(\.1).max() else {
            return "<p>(no data)</p>"
        }
        let (width, height, margin) = (640.0, 240.0, 40.0)
        // The legend sits right of the plot, where no line can run through it.
        let right = width - margin - 110
        let span = max(high - low, 1e-9)
        func x(_ step: Int) -> Double { margin + Double(step) / Double(max(maxStep, 1)) * (right - margin) }
        func y(_ value: Double) -> Double { height - margin - (value - low) / span * (height - 2 * margin) }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        out += "<line x1=\"\(margin)\" y1=\"\(height - margin)\" x2=\"\(right)\" y2=\"\(height - margin)\" stroke=\"#999\"/>"
        out += "<line x1=\"\(margin)\" y1=\"\(margin)\" x2=\"\(margin)\" y2=\"\(height - margin)\" stroke=\"#999\"/>"
        out += String(
            format: "<text x=\"2\" y=\"%.0f\" font-size=\"10\">%.3g</text><text x=\"2\" y=\"%.0f\" font-size=\"10\">%.3g</text>",
            margin, high, height - margin, low)
        out += "<text x=\"\(right)\" y=\"\(height - 8)\" font-size=\"10\" text-anchor=\"end\">step \(maxStep)</text>"
        for (index, (name, color, data)) in series.enumerated() where !data.isEmpty {
            let path = data.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(path)\"/>"
            out +=
                "<text x=\"\(right + 12)\" y=\"\(margin + Double(index) * 14)\" "
                + "font-size=\"11\" fill=\"\(color)\">\(name)</text>"
        }
        return out + "</svg>"
    }
}
