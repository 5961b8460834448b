import Adapters
import Foundation
import Inference

/// Work that runs on the engine thread between decode steps: it touches the model or the
/// adapter slots, which only that thread may.
extension Engine {
    /// Labels `texts` with the classifier, every text through the adapter `model` names.
    func classify(_ texts: [String], model: String) throws -> [ClassifiedText] {
        guard case .classifier(let classifier) = served.kind else {
            throw ServingError.invalid("this server's model generates text; start `tailor serve --task classify` to classify")
        }
        guard let slot = try adapters.acquire(model) else {
            throw ServingError(status: 503, "every adapter slot is in use by running requests", type: "server_error", retryAfter: 1)
        }
        defer { adapters.release(model) }
        let results = try classifier.classify(texts, slots: [Int](repeating: slot, count: texts.count))
        return zip(texts, results).map { ClassifiedText(text: $0, result: $1, adapter: model.isEmpty ? nil : model) }
    }

    /// `GET /v1/models`: the base, the adapters attached or registered by name, then the
    /// registry's adapters (each loaded on first use).
    func modelCards() throws -> [ModelCard] {
        let created = Int(Date().timeIntervalSince1970)
        let base = configuration.baseName
        var cards = [
            ModelCard(
                id: base, created: created, root: configuration.model, parent: nil, maxModelLen: served.info.contextLength, loaded: true)
        ]
        var listed: Set<String> = [base]
        for name in adapters.entries.keys.sorted() {
            cards.append(ModelCard(id: name, created: created, root: adapters.folders[name] ?? name, parent: base, loaded: true))
            listed.insert(name)
        }
        for (name, folder) in adapters.folders.sorted(by: { $0.key < $1.key }) where !listed.contains(name) {
            cards.append(ModelCard(id: name, created: created, root: folder, parent: base, loaded: false))
            listed.insert(name)
        }
        for version in try adapters.resolver.registryVersions().reversed() where !listed.contains(version.name) {
            cards.append(
                ModelCard(
                    id: version.name, created: Int(version.created.timeIntervalSince1970), root: "\(version.name)@\(version.version)",
                    parent: base, loaded: false))
            listed.insert(version.name)
        }
        return cards
    }
}
