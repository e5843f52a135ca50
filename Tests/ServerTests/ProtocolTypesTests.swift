import Foundation
import XCTest
import JSONRPC
import ServerProtocol
import Server
import Sketching
import TestSupport

/// The protocol types (Sources/ServerProtocol) against the wire contract,
/// protocol/clipascene.openrpc.json: every method's parameter names, every result's and
/// notification's property names, both ways; and how the types write their values.
final class ProtocolTypesTests: XCTestCase {
    var document: JSON!
    var schemas: [String: JSON] = [:]

    override func setUpWithError() throws {
        document = try JSON.parse(Array(try Data(contentsOf: repoRoot.appendingPathComponent("protocol/clipascene.openrpc.json"))))
        if case .object(let s)? = document["components"]?["schemas"] { schemas = s }
    }

    func method(_ name: String) throws -> JSON {
        guard case .array(let methods)? = document["methods"],
              let m = methods.first(where: { $0["name"] == .string(name) }) else { throw XCTSkip("no method \(name)") }
        return m
    }

    func resolve(_ schema: JSON?) -> JSON? {
        if case .string(let ref)? = schema?["$ref"], let name = ref.split(separator: "/").last { return schemas[String(name)] }
        return schema
    }

    /// The property names of an object schema, and the required ones.
    func properties(_ schema: JSON?) -> (all: Set<String>, required: Set<String>) {
        let s = resolve(schema)
        var all = Set<String>(), required = Set<String>()
        if case .object(let p)? = s?["properties"] { all = Set(p.keys) }
        if case .array(let r)? = s?["required"] { required = Set(r.compactMap { if case .string(let n) = $0 { n } else { nil } }) }
        return (all, required)
    }

    func paramNames(_ m: JSON) -> Set<String> {
        guard case .array(let ps)? = m["params"] else { return [] }
        return Set(ps.compactMap { if case .string(let n)? = $0["name"] { n } else { nil } })
    }

    func testEveryMethodsParametersAreTheDocumentsParameters() throws {
        XCTAssertEqual(Set(ServerProtocol.Methods.parameters.keys), Set(ServerProtocol.Methods.results.keys))
        for (name, type) in ServerProtocol.Methods.parameters {
            XCTAssertEqual(Set(type.names), paramNames(try method(name)), name)
        }
    }

    func testEveryResultsPropertiesAreTheDocumentsProperties() throws {
        for (name, type) in ServerProtocol.Methods.results {
            let schema = try method(name)["result"]?["schema"]
            guard let type else {
                XCTAssertEqual(schema?["type"], "null", name)
                continue
            }
            let (all, required) = properties(schema)
            XCTAssertEqual(Set(type.wireNames), all, name)
            XCTAssertTrue(required.isSubset(of: Set(type.wireNames)), name)
        }
    }

    func testNestedTypesAndNotificationsAgree() throws {
        XCTAssertEqual(Set(AbstractionSettings.wireNames), properties(schemas["Abstraction"]).all)
        XCTAssertEqual(Set(DocumentStatus.wireNames), properties(schemas["DocumentStatus"]).all)
        XCTAssertEqual(Set(SpeculatedCell.wireNames), properties(schemas["SpeculatedCell"]).all)
        let status = try method("getStatus")["result"]?["schema"]
        XCTAssertEqual(Set(SnapshotHealth.wireNames), properties(status?["properties"]?["snapshots"]).all)
        let matrix = try method("runMatrix")["result"]?["schema"]
        XCTAssertEqual(Set(MatrixCell.wireNames), properties(matrix?["properties"]?["cells"]?["items"]).all)
        XCTAssertEqual(Set(ProgressParams.wireNames), properties(schemas["ProgressParams"]).all)
        guard case .array(let kinds)? = resolve(schemas["ProgressParams"])?["properties"]?["value"]?["oneOf"] else {
            return XCTFail("no progress value kinds")
        }
        for kind in kinds {
            guard case .string(let k)? = kind["properties"]?["kind"]?["const"] else { return XCTFail("a kind without a name") }
            XCTAssertEqual(Set(ProgressValue.wireNames[k] ?? []), properties(kind).all, k)
        }
        XCTAssertEqual(Set(ShowMessageParams.wireNames), paramNames(try method("window/showMessage")))
        // initialize: the result, the engine's capabilities, an encoder, the limits, a range.
        let initialize = try method("initialize")["result"]?["schema"]
        XCTAssertEqual(Set(InitializeResult.wireNames), properties(initialize).all)
        XCTAssertEqual(Set(InitializeResult.ServerInfo.wireNames), properties(initialize?["properties"]?["serverInfo"]).all)
        let engine = initialize?["properties"]?["capabilities"]?["properties"]?["experimental"]?["properties"]?["clipascene"]
        XCTAssertEqual(Set(EngineCapabilities.wireNames), properties(engine).all)
        XCTAssertEqual(Set(EncoderAvailability.wireNames), properties(engine?["properties"]?["encoders"]?["items"]).all)
        XCTAssertEqual(Set(Limits.wireNames), properties(engine?["properties"]?["limits"]).all)
        XCTAssertEqual(Set(IntegerRange.wireNames), properties(schemas["Range"]).all)
    }

    /// Every wire setting reaches the engine's Abstraction (and each alias its setting).
    func testEverySettingNameReachesTheAbstraction() throws {
        let values: [String: JSON] = ["fidelity": 2, "simplicity": 3, "strokes": 12, "strokeWidth": 4.5, "seed": 9, "iterations": 7,
                                      "simplicityIterations": 8, "learningRate": 0.002, "augmentations": 2, "depth": 5]
        XCTAssertEqual(Set(values.keys), Set(SetAbstractionParams.settingNames))
        for (name, value) in values {
            let a = try AbstractionParameters.apply([name: value], to: Abstraction())
            XCTAssertNotEqual(a, Abstraction(), "\(name) changed nothing")
        }
        for (alias, setting) in SetAbstractionParams.aliases {
            XCTAssertEqual(try AbstractionParameters.apply([alias: 12], to: Abstraction()),
                           try AbstractionParameters.apply([setting: 12], to: Abstraction()), alias)
        }
    }

    func testValuesAreWrittenAsTheWireExpects() throws {
        let step = try StepResult(step: 3, totalSteps: 10, stepsRun: 3, loss: nil, lossPart: nil, bestLoss: wireNumber(1e-4),
                                  level: 0, converged: false, complete: false, omittedStrokes: 0).json()
        XCTAssertEqual(step["loss"], .null, "a required nullable is written as null")
        XCTAssertEqual(step["lossPart"], .null)
        XCTAssertEqual(step["bestLoss"], .double(0.0001), "a Float through its shortest decimal")
        XCTAssertNil(wireNumber(.nan))
        let matrix = try MatrixResult(cells: [], contactSheet: "", fidelities: [0], simplicities: [0], outDir: nil).json()
        XCTAssertNil(matrix["outDir"], "an optional property is left out")
        let report = try ProgressParams(token: "t", value: .report(message: "m", percentage: 140, step: 2, loss: nil)).json()
        XCTAssertEqual(report["value"]?["percentage"], 100)
        XCTAssertEqual(report["value"]?["loss"], .null)
        XCTAssertEqual(try ProgressParams(token: .int(7), value: .end(message: "done")).json()["token"], 7)
    }
}
