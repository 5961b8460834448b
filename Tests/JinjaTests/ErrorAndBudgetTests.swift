import Foundation
import Jinja
import Testing

/// Errors carry the kind and the template line; hostile templates hit the budget instead of hanging or
/// exhausting memory; no input, however broken, traps.
@Suite struct ErrorAndBudgetTests {
    func error(_ source: String, _ context: [String: Value] = [:], limits: RenderLimits = RenderLimits()) -> TemplateError? {
        do {
            _ = try Template(source).render(context, options: RenderOptions(limits: limits))
            return nil
        } catch let error as TemplateError {
            return error
        } catch {
            Issue.record("not a TemplateError: \(error)")
            return nil
        }
    }

    @Test func syntaxErrorsNameTheirLine() throws {
        let broken = error("line one\n{% if x %}\n  {{ x + }}\n{% endif %}")
        #expect(broken?.kind == .syntax)
        #expect(broken?.line == 3)
        #expect(broken?.description.hasPrefix("line 3: ") == true)
        #expect(error("{% for x in y %}\n\nbody")?.kind == .syntax)
        #expect(error("{% endfor %}")?.kind == .syntax)
        #expect(error("{% include 'other.j2' %}")?.message == "unknown or unsupported tag 'include'")
        #expect(error("{{ 'unterminated }}")?.kind == .syntax)
        #expect(error("{# never closed")?.kind == .syntax)
    }

    @Test func unknownFiltersAndTestsFailAtParseTimeWithTheirLine() {
        let filter = error("{% if false %}\n{{ x | frobnicate }}\n{% endif %}")
        #expect(filter?.kind == .unknownFilter)
        #expect(filter?.message == "No filter named 'frobnicate'.")
        #expect(filter?.line == 2)
        #expect(error("{{ [1] | map('frobnicate') | list }}")?.kind == .unknownFilter)
        #expect(error("{{ x is frobnicated }}")?.kind == .unknownFilter)
    }

    @Test func raiseExceptionKeepsTheMessageAndLine() {
        let raised = error("ok\n{{ raise_exception('Roles must alternate: ' ~ n) }}", ["n": 3])
        #expect(raised?.kind == .raised)
        #expect(raised?.message == "Roles must alternate: 3")
        #expect(raised?.line == 2)
    }

    @Test func runtimeErrorsHaveLines() {
        let undefined = error("a\nb\n{{ missing.attribute }}")
        #expect(undefined?.kind == .undefined)
        #expect(undefined?.message == "'missing' is undefined")
        #expect(undefined?.line == 3)
        #expect(error("{{ 9223372036854775807 + 1 }}")?.kind == .type)
        #expect(error("{{ -9223372036854775807 - 2 }}")?.kind == .type)
        #expect(error("{{ 2 ** 64 }}")?.kind == .type)
        #expect(error("{{ 7 // 0 }}")?.kind == .type)
        #expect(error("{{ 7 % 0 }}")?.kind == .type)
        #expect(error("{{ [1, 2][::0] }}")?.kind == .type)
        #expect(error("{% for a, b in [[1, 2, 3]] %}{% endfor %}")?.kind == .type)
        #expect(error("{{ 5 | abs | abs }}{{ none | length }}")?.kind == .type)
        #expect(error("{% set ns = namespace() %}{% set ns._private = 1 %}")?.kind == .security)
        #expect(error("{{ {'a': 1}.update({}) }}")?.kind == .security)
    }

    @Test func loopsThatNeverEndRunOutOfSteps() {
        let limits = RenderLimits(maxSteps: 100_000)
        let nested = error("{% for a in range(1000) %}{% for b in range(1000) %}{{ '' }}{% endfor %}{% endfor %}", limits: limits)
        #expect(nested?.kind == .budget)
        #expect(error("{% for x in range(100000000) %}{% endfor %}")?.kind == .budget)
    }

    @Test func outputAndValuesStayUnderTheSizeLimit() {
        let limits = RenderLimits(maxOutputBytes: 1 << 16)
        #expect(error("{{ 'x' * 100000000000 }}", limits: limits)?.kind == .budget)
        #expect(error("{{ [0] * 9223372036854775807 }}", limits: limits)?.kind == .budget)
        let doubling = "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
        #expect(error(doubling, limits: limits)?.kind == .budget)
        #expect(error("{% for i in range(100000) %}0123456789{% endfor %}", limits: limits)?.kind == .budget)
        #expect(error("{{ 'ab' | center(100000000) }}", limits: limits)?.kind == .budget)
    }

    @Test func recursiveMacrosStopAtTheCallDepth() {
        let recursive = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"
        #expect(error(recursive)?.kind == .budget)
    }

    @Test func deepNestingIsRefusedNotAStackOverflow() {
        #expect(error("{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}")?.kind == .syntax)
        #expect(error("{{ " + String(repeating: "[", count: 5000) + " }}")?.kind == .syntax)
        #expect(error(String(repeating: "{% if true %}", count: 5000))?.kind == .syntax)
        #expect(error("{{ " + String(repeating: "not ", count: 5000) + "x }}")?.kind == .syntax)
        #expect(error("{{ " + String(repeating: "-", count: 5000) + "1 }}")?.kind == .syntax)
        // Ordinary depth still works.
        #expect(error("{{ " + String(repeating: "(", count: 30) + "1" + String(repeating: ")", count: 30) + " }}") == nil)
    }
}

/// The deepest nesting the parser and the macro budget accept renders on a 512 KiB stack (a macOS secondary
/// thread's), so the limits stop hostile input before the stack does.
@Suite struct StackDepthTests {
    static func onSmallStack(_ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            body()
            done.signal()
        }
        thread.stackSize = 512 << 10
        thread.start()
        done.wait()
    }

    static let sources = [
        "{{ " + String(repeating: "(", count: 31) + "1" + String(repeating: ")", count: 31) + " }}",
        "{{ " + String(repeating: "not ", count: 62) + "x }}",
        "{{ " + String(repeating: "-", count: 62) + "1 }}",
        "{{ " + String(repeating: "[", count: 31) + String(repeating: "]", count: 31) + " }}",
        String(repeating: "{% if true %}", count: 62) + "deep" + String(repeating: "{% endif %}", count: 62),
        String(repeating: "{% for x in [1] %}", count: 62) + "deep" + String(repeating: "{% endfor %}", count: 62),
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% else %}bottom{% endif %}{% endmacro %}{{ f(23) }}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{{ x | tojson }}",
    ]

    /// JSON nested as deep as `Value(json:)` accepts.
    static let deepList = try! Value(json: String(repeating: "[", count: 127) + String(repeating: "]", count: 127))

    @Test(arguments: 0..<sources.count)
    func deepestAcceptedTemplatesRenderOnASmallStack(index: Int) {
        let source = Self.sources[index]
        do {
            Self.onSmallStack {
                do {
                    _ = try Template(source).render(["x": Self.deepList])
                } catch {
                    // Refusing is fine too; only a crash is not.
                }
            }
        }
    }
}
