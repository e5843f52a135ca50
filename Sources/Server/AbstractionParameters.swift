import JSONRPC
import ServerProtocol
import Sketching

/// Reading abstraction settings from a JSON object, with one set of names, types and ranges
/// for the server's `setAbstraction` and the batch manifest: a wrong type, a fraction, a
/// negative seed or a number out of range is an error naming the field, never coerced.
public enum AbstractionParameters {
    /// The setting names and their older spellings (`SetAbstractionParams`).
    public static let keys = Set(SetAbstractionParams.settingNames).union(SetAbstractionParams.aliases.keys)

    /// Applies the settings present in `object` to `base` and validates the result (`depths`:
    /// the encoder's raw block range). An older spelling (`numPaths`, `paths`) stands for its
    /// setting. Throws an `RPCError` (-32602) naming the field.
    public static func apply(_ object: [String: JSON], to base: Abstraction, depths: ClosedRange<Int> = Abstraction.depthRange) throws -> Abstraction {
        let fields = try SetAbstractionParams.resolvingAliases(object)
        let p = try Params(.object(fields))
        var a = base
        // Types here; ranges once, in Abstraction.validate below.
        if let v = try p.optionalInteger("fidelity") { a.fidelity = v }
        if let v = try p.optionalInteger("simplicity") { a.simplicity = v }
        if let v = try p.optionalInteger("strokes") { a.strokes = v }
        if let v = try p.optionalInt("seed", in: 0...Int.max) { a.seed = UInt64(v) }   // a seed is any non-negative integer
        if let v = try p.optionalInteger("iterations") { a.iterations = v }
        if let v = try p.optionalInteger("simplicityIterations") { a.simplicityIterations = v }
        if let v = try p.optionalInteger("augmentations") { a.augmentations = v }
        if p.object["depth"] == .null { a.depth = nil }
        if let v = try p.optionalInteger("depth") { a.depth = v }
        if let v = try p.double("strokeWidth") { a.strokeWidth = Float(v) }
        if let v = try p.double("learningRate") { a.learningRate = Float(v) }
        do { try a.validate(depths: depths) } catch let e as AbstractionError { throw RPCError.invalidParams(e.description) }
        return a
    }
}
