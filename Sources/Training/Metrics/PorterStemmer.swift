/// The Porter stemmer exactly as `rouge_score` 0.1.2 runs it: NLTK's `PorterStemmer()` in its default
/// `NLTK_EXTENSIONS` mode, which adds to Porter's 1980 rules his later fixes and NLTK's own (an irregular-forms
/// table, `ies`/`ied` on four-letter words, `y` after a consonant, `alli`, `fulli`, `logi`). Another stemmer, or
/// another mode, gives other stems and so ROUGE numbers that do not compare with published ones.
///
/// Words are handled as Unicode scalars because Python indexes code points; only `a e i o u` are vowels, so
/// accented letters count as consonants, as in the reference.
public enum PorterStemmer {
    typealias Letters = [Unicode.Scalar]

    /// The stem of `word`, lowercased first as NLTK does. ROUGE only passes tokens that are already lowercase ASCII.
    public static func stem(_ word: String) -> String {
        var letters = lowercased(word)
        let lowered = string(letters)
        if let irregular = irregularForms[lowered] { return irregular }
        // NLTK measures the word as given, before lowercasing: "İs" lowercases to three scalars but is left alone.
        if word.unicodeScalars.count <= 2 { return lowered }
        for step in [step1a, step1b, step1c, step2, step3, step4, step5a, step5b] { letters = step(letters) }
        return string(letters)
    }

    /// Python's `str.lower`: each scalar's full lowercase mapping, except that a capital sigma ending a word becomes
    /// the final form "ς" (Unicode's Final_Sigma context: a cased letter before it and none after, looking past
    /// case-ignorable scalars such as apostrophes and combining marks).
    static func lowercased(_ word: String) -> Letters {
        let scalars = Array(word.unicodeScalars)
        var lowered = Letters()
        lowered.reserveCapacity(scalars.count)
        for (i, scalar) in scalars.enumerated() {
            if scalar == "\u{03A3}" {
                let before = scalars[..<i].last { !$0.properties.isCaseIgnorable }
                let after = scalars[(i + 1)...].first { !$0.properties.isCaseIgnorable }
                if before?.properties.isCased == true && after?.properties.isCased != true {
                    lowered.append("\u{03C2}")
                    continue
                }
            }
            lowered.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
        return lowered
    }

    /// Forms the rules get wrong, mapped to the stems NLTK wants instead (the rules take "dying" to "dy", not "die").
    static let irregularForms: [String: String] = [
        "sky": "sky", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
        "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
        "cannings": "canning", "canning": "canning", "howe": "howe",
        "proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
    ]

    // MARK: Letters

    private static func letters(_ text: String) -> Letters { Array(text.unicodeScalars) }

    private static func string(_ letters: some Sequence<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: letters)
        return String(view)
    }

    private static func isVowel(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "a" || scalar == "e" || scalar == "i" || scalar == "o" || scalar == "u"
    }

    /// Per letter, whether it is a consonant. A `y` is one at the start of a word or after a vowel, a vowel after a
    /// consonant: "toy" is c-v-c, "syzygy" c-v-c-v-c-v. One left-to-right pass, so a run of `y`s stays linear.
    static func consonantFlags(_ word: Letters) -> [Bool] {
        var flags: [Bool] = []
        flags.reserveCapacity(word.count)
        for (i, scalar) in word.enumerated() {
            if isVowel(scalar) {
                flags.append(false)
            } else if scalar == "y" {
                flags.append(i == 0 ? true : !flags[i - 1])
            } else {
                flags.append(true)
            }
        }
        return flags
    }

    /// Porter's m: how many vowel-run-then-consonant-run pairs the word has ("tree" 0, "trouble" 1, "private" 2).
    static func measure(_ word: Letters) -> Int {
        let flags = consonantFlags(word)
        var m = 0
        for i in flags.indices.dropFirst() where !flags[i - 1] && flags[i] { m += 1 }
        return m
    }

    private static func containsVowel(_ word: Letters) -> Bool { consonantFlags(word).contains(false) }

    private static func isConsonant(_ word: Letters, at i: Int) -> Bool { consonantFlags(word)[i] }

    private static func endsWithDoubleConsonant(_ word: Letters) -> Bool {
        word.count >= 2 && word[word.count - 1] == word[word.count - 2] && isConsonant(word, at: word.count - 1)
    }

    /// Porter's *o (consonant-vowel-consonant, the last not w, x or y, as in "hop", "fil"), which NLTK also grants
    /// a two-letter vowel-consonant stem so that "ow(ed)" and "us(ed)" get their "e" back.
    static func endsCVC(_ word: Letters) -> Bool {
        let n = word.count
        if n == 2 { return !isConsonant(word, at: 0) && isConsonant(word, at: 1) }
        guard n >= 3 else { return false }
        let flags = consonantFlags(word)
        return flags[n - 3] && !flags[n - 2] && flags[n - 1] && !["w", "x", "y"].contains(word[n - 1])
    }

    private static func hasSuffix(_ word: Letters, _ suffix: Letters) -> Bool {
        word.count >= suffix.count && word[(word.count - suffix.count)...].elementsEqual(suffix)
    }

    // MARK: Rules

    /// A suffix, what replaces it, and the condition the remaining stem must meet.
    struct Rule: Sendable {
        var suffix: Letters
        var replacement: Letters
        var condition: @Sendable (Letters) -> Bool

        init(_ suffix: String, _ replacement: String, _ condition: @escaping @Sendable (Letters) -> Bool = { _ in true }) {
            self.suffix = PorterStemmer.letters(suffix)
            self.replacement = PorterStemmer.letters(replacement)
            self.condition = condition
        }
    }

    /// Only the first rule whose suffix matches is considered: when its condition fails the word is kept, even if
    /// a later, shorter suffix would have matched ("feed" stops at "eed" and never loses "ed").
    private static func applyFirst(_ rules: [Rule], to word: Letters) -> Letters {
        for rule in rules where hasSuffix(word, rule.suffix) {
            let stem = Letters(word.dropLast(rule.suffix.count))
            return rule.condition(stem) ? stem + rule.replacement : word
        }
        return word
    }

    private static func measureAbove(_ m: Int) -> @Sendable (Letters) -> Bool { { measure($0) > m } }

    /// Plurals. NLTK keeps four-letter "-ies" words as "-ie" ("ties", "dies") where Porter would give "ti".
    static func step1a(_ word: Letters) -> Letters {
        if word.count == 4 && hasSuffix(word, letters("ies")) { return Letters(word.dropLast()) }
        return applyFirst(step1aRules, to: word)
    }

    private static let step1aRules = [Rule("sses", "ss"), Rule("ies", "i"), Rule("ss", "ss"), Rule("s", "")]

    /// Past tenses and gerunds: "-eed" (kept on a stem with m = 0), then "-ed"/"-ing" after a vowel, followed by the
    /// repairs that let later steps see whole suffixes again.
    static func step1b(_ word: Letters) -> Letters {
        // NLTK's "-ied": four-letter words keep "ie" ("died"), longer ones become "-i" ("spied") unconditionally.
        if hasSuffix(word, letters("ied")) { return Letters(word.dropLast(word.count == 4 ? 1 : 2)) }
        if hasSuffix(word, letters("eed")) {
            let stem = Letters(word.dropLast(3))
            return measure(stem) > 0 ? stem + letters("ee") : word
        }
        var stem: Letters?
        for suffix in ["ed", "ing"] where hasSuffix(word, letters(suffix)) {
            let candidate = Letters(word.dropLast(suffix.count))
            if containsVowel(candidate) {
                stem = candidate
                break
            }
        }
        guard let stem else { return word }
        for ending in ["at", "bl", "iz"] where hasSuffix(stem, letters(ending)) { return stem + ["e"] }
        if endsWithDoubleConsonant(stem) {
            // "hopp" becomes "hop", but "fall", "hiss" and "fizz" keep their pair.
            return ["l", "s", "z"].contains(stem[stem.count - 1]) ? stem : Letters(stem.dropLast())
        }
        return measure(stem) == 1 && endsCVC(stem) ? stem + ["e"] : stem
    }

    /// A final "y" after a consonant becomes "i" ("happy", "spy", "fly"), but not after a vowel ("enjoy") or when the
    /// consonant is all that is left ("by").
    static func step1c(_ word: Letters) -> Letters {
        applyFirst([Rule("y", "i") { $0.count > 1 && isConsonant($0, at: $0.count - 1) }], to: word)
    }

    /// Double suffixes to single ones, on a stem with m > 0.
    static func step2(_ word: Letters) -> Letters {
        // NLTK strips "alli" to "al" before the table and runs the table again ("radicalli" -> "radical").
        if hasSuffix(word, letters("alli")) && measure(Letters(word.dropLast(4))) > 0 { return step2(Letters(word.dropLast(2))) }
        // "-logi" keeps its "l" in the stem it measures, so "geologi" (stem "geol", m = 1) still loses its "i".
        let logi = Rule("logi", "log") { stem in measure(stem + ["l"]) > 0 }
        return applyFirst(step2Rules + [logi], to: word)
    }

    private static let step2Rules: [Rule] = [
        ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("bli", "ble"),
        ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
        ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"),
        ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful"),
    ].map { Rule($0.0, $0.1, measureAbove(0)) }

    static func step3(_ word: Letters) -> Letters { applyFirst(step3Rules, to: word) }

    private static let step3Rules: [Rule] = [
        ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", ""),
    ].map { Rule($0.0, $0.1, measureAbove(0)) }

    /// The remaining suffixes go on a stem with m > 1; "-ion" only after "s" or "t" ("adoption", not "opinion").
    static func step4(_ word: Letters) -> Letters { applyFirst(step4Rules, to: word) }

    private static let step4Rules: [Rule] = {
        let before = ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent"]
        let after = ["ou", "ism", "ate", "iti", "ous", "ive", "ize"]
        let ion = Rule("ion", "") { stem in measure(stem) > 1 && ["s", "t"].contains(stem[stem.count - 1]) }
        return before.map { Rule($0, "", measureAbove(1)) } + [ion] + after.map { Rule($0, "", measureAbove(1)) }
    }()

    /// A final "e" goes when m > 1, or when m = 1 and the stem does not end consonant-vowel-consonant ("cease" but
    /// not "rate"). Both conditions are tried, unlike the first-match rule elsewhere.
    static func step5a(_ word: Letters) -> Letters {
        guard word.last == "e" else { return word }
        let stem = Letters(word.dropLast())
        let m = measure(stem)
        return m > 1 || (m == 1 && !endsCVC(stem)) ? stem : word
    }

    /// "-ll" loses an "l" when the word without it has m > 1 ("controll" but not "roll").
    static func step5b(_ word: Letters) -> Letters {
        hasSuffix(word, letters("ll")) && measure(Letters(word.dropLast())) > 1 ? Letters(word.dropLast()) : word
    }
}
