import Foundation
import JSONRPC
import XCTest
import Server

/// protocol/clipascene.openrpc.json follows the OpenRPC 1.3 document structure, and every
/// method's example (recorded from a real session) is valid against the method's own schemas.
final class OpenRPCDocumentTests: XCTestCase {
    let doc = ProtocolSchemas.shared.document

    func string(_ v: JSON?) -> String? { if case .string(let s)? = v { return s } else { return nil } }

    func testDocumentStructure() throws {
        XCTAssertTrue(string(doc["openrpc"])?.hasPrefix("1.") ?? false, "openrpc version")
        XCTAssertNotNil(string(doc["info"]?["title"]))
        XCTAssertNotNil(string(doc["info"]?["version"]))
        guard case .object(let schemas)? = doc["components"]?["schemas"] else { return XCTFail("components.schemas") }
        XCTAssertFalse(schemas.isEmpty)
        guard case .array(let methods)? = doc["methods"] else { return XCTFail("methods") }
        var names = Set<String>()
        let directions: Set<String> = ["$/progress", "window/showMessage", "window/workDoneProgress/create"]
        for m in methods {
            guard let name = string(m["name"]) else { XCTFail("a method without a name"); continue }
            XCTAssertTrue(names.insert(name).inserted, "\(name) appears twice")
            guard case .array(let params)? = m["params"] else { XCTFail("\(name): params must be an array"); continue }
            for p in params {
                XCTAssertNotNil(string(p["name"]), "\(name): a parameter without a name")
                XCTAssertNotNil(p["schema"], "\(name): a parameter without a schema")
            }
            if let structure = string(m["paramStructure"]) {
                XCTAssertTrue(["by-name", "by-position", "either"].contains(structure), "\(name): paramStructure")
            }
            let notification = m["x-notification"] == .bool(true)
            if !notification {
                XCTAssertNotNil(string(m["result"]?["name"]), "\(name): result.name")
                XCTAssertNotNil(m["result"]?["schema"], "\(name): result.schema")
            }
            XCTAssertEqual(string(m["x-direction"]) == "server-to-client", directions.contains(name),
                           "\(name): server-to-client messages are marked, and only they")
        }
    }

    func testEveryMethodHasAnExampleThatItsSchemasAccept() throws {
        guard case .array(let methods)? = doc["methods"] else { return XCTFail("methods") }
        for m in methods {
            guard let name = string(m["name"]) else { continue }
            guard case .array(let examples)? = m["examples"], !examples.isEmpty else { XCTFail("\(name) has no example"); continue }
            for example in examples {
                XCTAssertNotNil(string(example["name"]), "\(name): example name")
                guard case .array(let pairs)? = example["params"] else { XCTFail("\(name): example params"); continue }
                var params: [String: JSON] = [:]
                for pair in pairs {
                    guard let key = string(pair["name"]), let value = pair["value"] else { XCTFail("\(name): example param"); continue }
                    params[key] = value
                }
                XCTAssertEqual(ProtocolSchemas.shared.checkParams(method: name, .object(params)), [], "\(name) example params")
                if let value = example["result"]?["value"], m["result"] != nil {
                    XCTAssertEqual(ProtocolSchemas.shared.checkResult(method: name, value), [], "\(name) example result")
                }
            }
        }
    }
}
