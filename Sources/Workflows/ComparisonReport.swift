import Diagnostics
import Foundation
import Training

/// `tailor compare`'s report.html: the table, the metric against trainable parameters (log
/// scale, one labelled point per method) and every method's loss curve, as inline SVG in one
/// self-contained page, framed and drawn like `tailor train`'s report.
public enum ComparisonReport {
    /// The table's columns; the last is the compared metric.
    public static func header(_ report: MethodComparison.Report) -> [String] {
        ["method", "trainable params", "adapter size", "peak memory", "tokens/s", "train time", report.metric]
    }

    /// One row of readable cells per method, as the CLI prints them and the page shows them.
    public static func rows(_ report: MethodComparison.Report) -> [[String]] {
        report.methods.map { result in
            guard result.error == nil else { return [result.method] + Array(repeating: "—", count: 5) + ["failed"] }
            let trainable = result.trainableParameters.map { count in
                groupedDigits(count)
                    + (result.totalParameters.map { " (" + percent(Double(count) / Double(max($0, 1))) + ")" } ?? "")
            }
            return [
                result.method, trainable ?? "—", result.adapterBytes.map(formatBytes) ?? "—",
                result.peakMemoryBytes.map(formatBytes) ?? "—", result.tokensPerSecond.map { groupedDigits(Int($0.rounded())) } ?? "—",
                result.trainSeconds.map { String(format: "%.1f s", $0) } ?? "—",
                result.metrics?[report.metric].map { format(metric: report.metric, $0) } ?? "—",
            ]
        }
    }

    /// A share with two significant digits below 10% (0.27%, 1.3%), whole above (100%).
    static func percent(_ fraction: Double) -> String {
        let value = fraction * 100
        return (value >= 10 ? String(format: "%.0f", value) : value >= 1 ? String(format: "%.1f", value) : String(format: "%.2g", value))
            + "%"
    }

    /// A metric as the table shows it: accuracy in percent, others with four significant digits.
    public static func format(metric: String, _ value: Double) -> String {
        metric == "accuracy" ? String(format: "%.1f%%", value * 100) : String(format: "%.4g", value)
    }

    /// Distinct colours (matplotlib's tab10), the same method in the same colour in both charts.
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    public static func html(_ report: MethodComparison.Report) -> String {
        let colors = Dictionary(
            report.methods.enumerated().map { ($1.method, palette[$0 % palette.count]) }, uniquingKeysWith: { first, _ in first })
        var html = TrainingReport.pageHead(title: "Tailor method comparison") + "<h1>Method comparison</h1>"
        html +=
            "<p>\(escape(report.model)) on \(escape(report.data)) (\(escape(report.task)), "
            + "\(String(format: "%g", report.epochs)) epochs); \(escape(report.metric)) on \(escape(report.evalData)).</p>"
        html += "<table><tr>" + header(report).map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
        for (row, result) in zip(rows(report), report.methods) {
            html += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>"
            if let error = result.error {
                html += "<tr><td></td><td colspan=\"6\" style=\"text-align:left;color:#a00\">\(escape(error))</td></tr>"
            }
        }
        html += "</table>"
        let points = report.succeeded.compactMap { result in
            result.trainableParameters.flatMap { count in
                result.metrics?[report.metric].map { (result.method, colors[result.method]!, Double(count), $0) }
            }
        }
        html += "<h2>\(escape(report.metric)) against trainable parameters</h2>" + scatter(points, yLabel: report.metric)
        let curves = report.methods.filter { !$0.lossCurve.isEmpty }.map { result in
            (result.method, colors[result.method]!, result.lossCurve.map { ($0.step, $0.loss) })
        }
        html += "<h2>Training loss</h2>" + TrainingReport.svg(curves)
        return html + TrainingReport.pageFoot
    }

    /// Points (name, colour, x, y) on a log-scale x axis with a tick per power of ten and round
    /// ticks on y. Methods with the same trainable parameters (LoRA and QLoRA) and close metrics
    /// would print their names over each other, so each label takes the first place beside its
    /// point that no point or earlier label covers.
    static func scatter(_ points: [(String, String, Double, Double)], yLabel: String) -> String {
        let xs = points.map { log10(max($0.2, 1)) }, ys = points.map(\.3)
        guard let minX = xs.min(), let maxX = xs.max(), let minY = ys.min(), let maxY = ys.max() else { return "<p>(no data)</p>" }
        let (width, height, left, right, top, bottom) = (640.0, 320.0, 60.0, 90.0, 24.0, 40.0)
        let lowX = minX.rounded(.down), highX = max(maxX.rounded(.up), lowX + 1)
        let (lowY, highY, stepY) = roundTicks(low: minY, high: maxY)
        func x(_ value: Double) -> Double { left + (value - lowX) / (highX - lowX) * (width - left - right) }
        func y(_ value: Double) -> Double { height - bottom - (value - lowY) / (highY - lowY) * (height - top - bottom) }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        out += line(left, height - bottom, width - right, height - bottom) + line(left, top, left, height - bottom)
        for power in Int(lowX)...Int(highX) {
            let px = x(Double(power))
            out += line(px, height - bottom, px, height - bottom + 4)
            out += text(px, height - bottom + 16, tickLabel(power), anchor: "middle")
        }
        for tick in 0...Int(((highY - lowY) / stepY).rounded()) {
            let value = lowY + Double(tick) * stepY
            out += line(left - 4, y(value), left, y(value)) + text(left - 6, y(value) + 3, String(format: "%.3g", value), anchor: "end")
        }
        out += text((left + width - right) / 2, height - 6, "trainable parameters (log scale)", anchor: "middle")
        out += text(12, top - 10, escape(yLabel), anchor: "start")
        let centres = points.indices.map { (x(xs[$0]), y(ys[$0])) }
        var taken = centres.map { Box(x: $0.0 - 4, y: $0.1 - 4, width: 8, height: 8) }
        for (index, (name, color, _, _)) in points.enumerated() {
            let (px, py) = centres[index]
            out += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%@\"/>", px, py, color)
            let labelWidth = 6.5 * Double(name.count)
            let places = [(7.0, -5.0), (7, 13), (-7, -5), (-7, 13), (7, -17), (7, 25), (-7, -17), (-7, 25)].map { dx, dy in
                (dx, py + dy, Box(x: dx > 0 ? px + dx : px + dx - labelWidth, y: py + dy - 9, width: labelWidth, height: 11))
            }
            let free = places.first { place in
                place.2.x >= left && place.2.x + place.2.width <= width && !taken.contains { $0.overlaps(place.2) }
            }
            let (dx, labelY, box) = free ?? places[0]
            taken.append(box)
            out += text(px + dx, labelY, escape(name), anchor: dx > 0 ? "start" : "end", color: color)
        }
        return out + "</svg>"
    }

    /// A rectangle a label or point covers, in SVG units.
    struct Box {
        var x, y, width, height: Double

        func overlaps(_ other: Box) -> Bool {
            x < other.x + other.width && other.x < x + width && y < other.y + other.height && other.y < y + height
        }
    }

    /// An axis range on round numbers (a step of 1, 2 or 5 times a power of ten, about four steps)
    /// that holds `low`…`high`; a single value gets a range around it.
    static func roundTicks(low: Double, high: Double) -> (low: Double, high: Double, step: Double) {
        let span = high > low ? high - low : max(abs(high) * 0.1, 0.01)
        let raw = span / 4, magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var (start, end) = ((low / step).rounded(.down) * step, (high / step).rounded(.up) * step)
        if end - start < step / 2 { (start, end) = (start - step, end + step) }
        return (start, end, step)
    }

    /// 10^power as people write parameter counts: 100, 10k, 1M.
    static func tickLabel(_ power: Int) -> String {
        switch power {
        case ..<3: String(Int(pow(10, Double(max(power, 0)))))
        case 3..<6: String(Int(pow(10, Double(power - 3)))) + "k"
        case 6..<9: String(Int(pow(10, Double(power - 6)))) + "M"
        default: String(Int(pow(10, Double(power - 9)))) + "G"
        }
    }

    private static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double) -> String {
        String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>", x1, y1, x2, y2)
    }

    private static func text(_ x: Double, _ y: Double, _ content: String, anchor: String, color: String = "#000") -> String {
        String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"%@\" fill=\"%@\">", x, y, anchor, color)
            + content + "</text>"
    }

    /// Text safe inside HTML and SVG elements and attribute values.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
