import Foundation
import JSONRPC

// The parameters of the methods, as `protocol/clipascene.openrpc.json` describes them. Each
// is read by `Params`, whose errors name the field, the type or range wanted and what was
// sent (a wrong type or a fraction is an error, never coerced); unknown names are refused.

/// What every document method's parameters share.
public protocol MethodParameters: Sendable {
    /// Every name the method reads (LSP's `workDoneToken` where it reports progress).
    static var names: [String] { get }
    init(_ p: Params) throws
}

/// `loadImage`: the photo by `path` or as base64 `data`, and how to prepare it.
public struct LoadImageParams: MethodParameters {
    public static let names = ["uri", "path", "data", "options", "workDoneToken"]
    public static let optionNames = ["mask", "background", "encoder"]
    public var path: String?
    public var data: String?
    /// `auto`, `none` or a mask image's path.
    public var mask: String
    /// `auto` or an image's path.
    public var background: String
    /// An encoder name; nil for the default.
    public var encoder: String?

    public init(_ p: Params) throws {
        try p.only(Set(Self.names))
        path = try p.optionalString("path")
        data = try p.optionalString("data")
        let options = try p.nested("options")
        try options.only(Set(Self.optionNames))
        mask = try options.optionalString("mask") ?? "auto"
        background = try options.optionalString("background") ?? "auto"
        encoder = try options.optionalString("encoder")
    }
}

/// `setAbstraction`: any subset of the settings; the names and their older spellings.
public struct SetAbstractionParams: MethodParameters {
    public static let settingNames = ["fidelity", "simplicity", "strokes", "strokeWidth", "seed", "iterations",
                                      "simplicityIterations", "learningRate", "augmentations", "depth"]
    /// Older spellings: alias → setting.
    public static let aliases = ["numPaths": "strokes", "paths": "strokes"]
    public static let names = ["uri"] + settingNames + aliases.keys.sorted()
    /// The settings as given (older spellings included: the reader of the settings,
    /// `resolvingAliases`, turns them into their setting names).
    public var settings: [String: JSON]

    public init(_ p: Params) throws {
        try p.only(Set(Self.names))
        var fields = p.object
        fields["uri"] = nil
        settings = fields
    }

    /// `object` with each older spelling replaced by its setting's name (both at once is an error).
    public static func resolvingAliases(_ object: [String: JSON]) throws -> [String: JSON] {
        var fields = object
        for (alias, key) in aliases.sorted(by: { $0.key < $1.key }) {
            if let v = fields.removeValue(forKey: alias) {
                if fields[key] != nil { throw RPCError.invalidParams("give \(key) or \(alias), not both") }
                fields[key] = v
            }
        }
        return fields
    }
}

/// `step`.
public struct StepParams: MethodParameters {
    public static let names = ["uri", "count", "workDoneToken"]
    public static let countRange = 1...1_000_000
    public var count: Int
    public init(_ p: Params) throws {
        try p.only(Set(Self.names))
        count = try p.int("count", in: Self.countRange, default: 1)
    }
}

/// Which drawing `getSVG` and `getPreview` return.
public enum Part: String, Sendable, CaseIterable {
    case combined, foreground, background

    static func read(_ p: Params) throws -> Part {
        let name = try p.optionalString("part") ?? "combined"
        guard let part = Part(rawValue: name) else {
            throw RPCError.invalidParams("part must be one of: combined, foreground, background; got \(name.debugDescription)")
        }
        return part
    }
}

/// `getSVG`.
public struct GetSVGParams: MethodParameters {
    public static let names = ["uri", "part"]
    public var part: Part
    public init(_ p: Params) throws {
        try p.only(Set(Self.names))
        part = try Part.read(p)
    }
}

/// `getPreview`.
public struct GetPreviewParams: MethodParameters {
    public static let names = ["uri", "part", "scale"]
    public static let scaleRange = 0.25...8.0
    public var part: Part
    public var scale: Double
    public init(_ p: Params) throws {
        try p.only(Set(Self.names))
        part = try Part.read(p)
        scale = try p.double("scale") ?? 2
        guard Self.scaleRange.contains(scale) else { throw RPCError.invalidParams("scale must be in 0.25…8, got \(scale)") }
    }
}

/// `runMatrix`.
public struct RunMatrixParams: MethodParameters {
    public static let names = ["uri", "fidelities", "simplicities", "outDir", "workDoneToken"]
    public var fidelities: [Int]
    public var simplicities: [Int]
    public var outDir: String?
    public init(_ p: Params) throws {
        try p.only(Set(Self.names))
        fidelities = try p.intArray("fidelities", default: [0, 1, 2, 3])
        simplicities = try p.intArray("simplicities", default: [0, 2, 4, 6])
        outDir = try p.optionalString("outDir")
        if let outDir, outDir.isEmpty || outDir.utf8.contains(0) {
            throw RPCError.invalidParams("outDir must be a folder path without NUL bytes")
        }
    }
}

/// `saveSession` and `restoreSession`: a file, or the server's automatic snapshot.
public struct SessionFileParams: MethodParameters {
    public static let names = ["uri", "path"]
    public var path: String?
    public init(_ p: Params) throws {
        try p.only(Set(Self.names))
        path = try p.optionalString("path")
    }
}

/// `closeDocument`.
public struct CloseDocumentParams: MethodParameters {
    public static let names = ["uri", "keepSnapshot", "forgetSnapshot"]
    /// Keep the document's automatic snapshot (`forgetSnapshot: false`, the older spelling, too).
    public var keepSnapshot: Bool
    public init(_ p: Params) throws {
        try p.only(Set(Self.names))
        keepSnapshot = try p.object["keepSnapshot"] != nil ? p.bool("keepSnapshot", default: false)
            : !p.bool("forgetSnapshot", default: true)
    }
}

/// `getStatus` and `shutdown` take none.
public struct NoParams: MethodParameters {
    public static let names: [String] = []
    public init(_ p: Params) throws { try p.only([]) }
}

/// Each request method's parameters and result, for dispatch and for the agreement test.
public enum Methods {
    public static let parameters: [String: any MethodParameters.Type] = [
        "loadImage": LoadImageParams.self, "setAbstraction": SetAbstractionParams.self, "step": StepParams.self,
        "getSVG": GetSVGParams.self, "getPreview": GetPreviewParams.self, "runMatrix": RunMatrixParams.self,
        "saveSession": SessionFileParams.self, "restoreSession": SessionFileParams.self,
        "closeDocument": CloseDocumentParams.self, "getStatus": NoParams.self, "shutdown": NoParams.self,
    ]
    /// nil: the result is null.
    public static let results: [String: (any WireType.Type)?] = [
        "loadImage": ImageInfo.self, "setAbstraction": AbstractionResult.self, "step": StepResult.self,
        "getSVG": SVGResult.self, "getPreview": PreviewResult.self, "runMatrix": MatrixResult.self,
        "saveSession": SaveResult.self, "restoreSession": RestoreResult.self, "closeDocument": nil,
        "getStatus": Status.self, "shutdown": nil,
    ]
}
