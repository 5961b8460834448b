/// Special tokens around the encoded sequences: tokenizer.json's "post_processor".
indirect enum PostProcessor {
    /// One item of a template: a special token's ids, or sequence A/B, with a type id.
    enum TemplateItem {
        case special(ids: [Int], typeId: Int)
        case sequence(isA: Bool, typeId: Int)
    }

    case template(single: [TemplateItem], pair: [TemplateItem])
    case none
    case sequence([PostProcessor])

    init(_ json: JSONObject) throws {
        switch json.type {
        case "TemplateProcessing":
            let specials = (json.values["special_tokens"] as? [String: Any]) ?? [:]
            func items(_ key: String) throws -> [TemplateItem] {
                try (json.array(key) ?? []).map { item in
                    guard let object = item as? [String: Any] else { throw json.fail("template item is not an object") }
                    if let special = object["SpecialToken"] as? [String: Any], let name = special["id"] as? String {
                        guard let entry = specials[name] as? [String: Any], let ids = entry["ids"] as? [Int] else {
                            throw json.fail("special token \(name) is not in special_tokens")
                        }
                        for id in ids { _ = try json.tokenId(id, "an id of special token \(name)") }
                        return .special(ids: ids, typeId: special["type_id"] as? Int ?? 0)
                    }
                    if let sequence = object["Sequence"] as? [String: Any], let id = sequence["id"] as? String {
                        return .sequence(isA: id == "A", typeId: sequence["type_id"] as? Int ?? 0)
                    }
                    throw json.fail("template item must be SpecialToken or Sequence")
                }
            }
            self = .template(single: try items("single"), pair: try items("pair"))
        case "BertProcessing", "RobertaProcessing":
            guard let cls = json.array("cls"), let sep = json.array("sep"),
                let clsId = cls.last as? Int, let sepId = sep.last as? Int
            else {
                throw json.fail("\(json.type!) needs cls and sep")
            }
            _ = try (json.tokenId(clsId, "the cls id"), json.tokenId(sepId, "the sep id"))
            let roberta = json.type == "RobertaProcessing"
            self = .template(
                single: [
                    .special(ids: [clsId], typeId: 0), .sequence(isA: true, typeId: 0),
                    .special(ids: [sepId], typeId: 0),
                ],
                pair: [.special(ids: [clsId], typeId: 0), .sequence(isA: true, typeId: 0), .special(ids: [sepId], typeId: 0)]
                    + (roberta
                        ? [
                            .special(ids: [sepId], typeId: 0), .sequence(isA: false, typeId: 0),
                            .special(ids: [sepId], typeId: 0),
                        ]
                        : [.sequence(isA: false, typeId: 1), .special(ids: [sepId], typeId: 1)]))
        case "ByteLevel":
            self = .none  // only adjusts offsets
        case "Sequence":
            let parts = json.array("processors") ?? []
            self = .sequence(
                try parts.enumerated().map {
                    try PostProcessor(JSONObject($1, file: json.file, context: "post_processor \($0)"))
                })
        default:
            throw json.fail("post_processor type \(json.type ?? "") is not supported")
        }
    }

    /// Combines the sequences into ids and type ids.
    func process(_ a: [Int], _ b: [Int]?) -> (ids: [Int], typeIds: [Int]) {
        switch self {
        case .none:
            return (a + (b ?? []), [Int](repeating: 0, count: a.count) + [Int](repeating: 1, count: b?.count ?? 0))
        case .sequence(let parts):
            // Only one part may change ids; the others (ByteLevel) pass them through.
            for part in parts {
                if case .template = part { return part.process(a, b) }
            }
            return PostProcessor.none.process(a, b)
        case let .template(single, pair):
            var ids: [Int] = [], types: [Int] = []
            for item in b == nil ? single : pair {
                switch item {
                case let .special(specialIds, typeId):
                    ids += specialIds
                    types += [Int](repeating: typeId, count: specialIds.count)
                case let .sequence(isA, typeId):
                    let sequence = isA ? a : (b ?? [])
                    ids += sequence
                    types += [Int](repeating: typeId, count: sequence.count)
                }
            }
            return (ids, types)
        }
    }

    /// How many ids the processor adds (truncation leaves room for them).
    func addedCount(pair: Bool) -> Int {
        let base = process([], pair ? [] : nil).ids.count
        return base
    }
}
