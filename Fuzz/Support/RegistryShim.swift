// Fuzz builds compile only the Registry files that decode blobs (TensorCodec, ZstdContexts,
// FactorQuantization); AdapterStore.swift needs GRDB and swift-crypto. FactorQuantization only
// uses AdapterStore.Failure from it, which this stands in for with the same shape.
enum AdapterStore {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
