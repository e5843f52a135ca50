import Foundation
import JSONRPC
import Server
import TestSupport

/// Checks messages against protocol/clipascene.openrpc.json. Supports exactly the JSON Schema
/// keywords that document uses and fails on any other, so a schema can never pass by being
/// misunderstood.
struct ProtocolSchemas {
    let document: JSON
    let methods: [String: JSON]

    static let shared: ProtocolSchemas = {
        let url = repoRoot.appendingPathComponent("protocol/clipascene.openrpc.json")
        guard let data = FileManager.default.contents(atPath: url.path),
              let doc = try? JSON.parse(Array(data)) else { fatalError("protocol/clipascene.openrpc.json is unreadable") }
        var methods: [String: JSON] = [:]
        if case .array(let list)? = doc["methods"] {
            for m in list { if case .string(let name)? = m["name"] { methods[name] = m } }
        }
        return ProtocolSchemas(document: doc, methods: methods)
    }()

    /// Problems with a request's or notification's params (empty: valid).
    func checkParams(method: String, _ params: JSON?) -> [String] {
        guard let m = methods[method] else { return ["method \(method) is not in the OpenRPC document"] }
        var properties: [String: JSON] = [:]
        var required: [JSON] = []
        if case .array(let list)? = m["params"] {
            for p in list {
                guard case .string(let name)? = p["name"] else { continue }
                properties[name] = p["schema"] ?? [:]
                if p["required"] == .bool(true) { required.append(.string(name)) }
            }
        }
        let additional = m["x-additionalParams"] == .bool(true)
        let schema: JSON = ["type": "object", "properties": .object(properties), "required": .array(required),
                            "additionalProperties": .bool(additional)]
        return check(params ?? [:], against: schema, at: "\(method).params")
    }

    func checkResult(method: String, _ result: JSON) -> [String] {
        guard let schema = methods[method]?["result"]?["schema"] else { return ["method \(method) has no result schema"] }
        return check(result, against: schema, at: "\(method).result")
    }

    func checkError(_ error: JSON) -> [String] {
        check(error, against: ["$ref": "#/components/schemas/Error"], at: "error")
    }

    func check(_ value: JSON, against schema: JSON, at path: String) -> [String] {
        guard case .object(let s) = schema else { return ["\(path): schema is not an object"] }
        var problems: [String] = []
        let annotations: Set<String> = ["description", "title", "contentEncoding", "examples"]
        for (key, rule) in s where !annotations.contains(key) {
            switch key {
            case "$ref":
                guard case .string(let r) = rule, r.hasPrefix("#/components/schemas/"),
                      let target = document["components"]?["schemas"]?[String(r.dropFirst("#/components/schemas/".count))]
                else { problems.append("\(path): unresolvable $ref \(rule.text)"); continue }
                problems += check(value, against: target, at: path)
            case "type":
                let allowed: [String]
                switch rule {
                case .string(let t): allowed = [t]
                case .array(let a): allowed = a.compactMap { if case .string(let t) = $0 { return t } else { return nil } }
                default: allowed = []
                }
                if !allowed.contains(where: { Self.matches(value, type: $0) }) {
                    problems.append("\(path): expected \(allowed.joined(separator: "|")), got \(value.text.prefix(80))")
                }
            case "properties":
                guard case .object(let props) = rule, case .object(let o) = value else { continue }
                for (name, sub) in props { if let v = o[name] { problems += check(v, against: sub, at: "\(path).\(name)") } }
            case "required":
                guard case .array(let names) = rule, case .object(let o) = value else { continue }
                for case .string(let n) in names where o[n] == nil { problems.append("\(path): missing \(n)") }
            case "additionalProperties":
                guard rule == .bool(false), case .object(let o) = value else { continue }
                let known: Set<String> = { if case .object(let p)? = s["properties"] { return Set(p.keys) } else { return [] } }()
                for k in o.keys where !known.contains(k) { problems.append("\(path): unexpected property \(k)") }
            case "items":
                guard case .array(let a) = value else { continue }
                for (i, v) in a.enumerated() { problems += check(v, against: rule, at: "\(path)[\(i)]") }
            case "enum":
                guard case .array(let options) = rule else { continue }
                if !options.contains(value) { problems.append("\(path): \(value.text) is not one of \(rule.text)") }
            case "const":
                if value != rule { problems.append("\(path): expected \(rule.text), got \(value.text)") }
            case "minimum", "maximum", "exclusiveMinimum":
                guard let x = Self.number(value), let bound = Self.number(rule) else { continue }
                let ok = key == "minimum" ? x >= bound : key == "maximum" ? x <= bound : x > bound
                if !ok { problems.append("\(path): \(x) violates \(key) \(bound)") }
            case "minLength":
                guard case .string(let str) = value, case .int(let n) = rule else { continue }
                if str.count < n { problems.append("\(path): shorter than \(n)") }
            case "oneOf":
                guard case .array(let options) = rule else { continue }
                let passing = options.filter { check(value, against: $0, at: path).isEmpty }.count
                if passing != 1 { problems.append("\(path): matches \(passing) of the oneOf schemas, not exactly 1: \(value.text.prefix(120))") }
            default:
                problems.append("\(path): the test validator does not know the keyword \(key)")
            }
        }
        return problems
    }

    static func matches(_ v: JSON, type: String) -> Bool {
        switch (type, v) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
             ("number", .int), ("number", .double), ("integer", .int), ("number", .numberText): return true
        case ("integer", .double(let d)): return d == d.rounded()
        case ("integer", .numberText): return v.numberValue.map { $0 == $0.rounded() } ?? false
        default: return false
        }
    }

    static func number(_ v: JSON) -> Double? {
        v.numberValue
    }
}
