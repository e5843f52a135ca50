import Foundation
import JSONRPC
import Imaging
import Models
import Server
import Sketching
import Vector

/// Every parser that reads bytes from outside, as a function of those bytes. Errors are the
/// expected outcome for bad input; a trap, a sanitizer report or a hang is a bug.
/// Built two ways (scripts/fuzz): with libFuzzer (`-D FUZZING`), where CLIPASCENE_FUZZ_TARGET
/// picks the target; and as a plain program that replays files, which the tests use to keep
/// every input that ever crashed a target as a regression test.
enum FuzzTarget: String, CaseIterable {
    case message, image, svg, pickle, onnx, snapshot, manifest

    func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .message:
            // Both framings, split into two reads at a point the input chooses, then every
            // message through the JSON writer and back.
            var reader = MessageReader(limit: 1 << 16)
            let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
            for part in [UnsafeRawBufferPointer(rebasing: bytes[0..<cut]), UnsafeRawBufferPointer(rebasing: bytes[cut...])] {
                for incoming in reader.feed(part) {
                    switch incoming {
                    case .message(let json, _), .inexactText(let json, _, _):
                        // What the writer writes reads back as the same value, written the
                        // same way (ids come back exactly), with every string exact Unicode.
                        let text = json.serialized
                        guard let (again, replaced) = try? JSON.parseReportingReplacements(text) else {
                            fatalError("the writer wrote JSON the parser refuses: \(String(decoding: text.prefix(200), as: UTF8.self))")
                        }
                        precondition(replaced == nil, "written text is not exact Unicode at \(replaced ?? "")")
                        precondition(again == json && again.serialized == text, "a value changed through the writer: \(json.text.prefix(200))")
                    case .malformed: break
                    }
                }
            }
        case .image:
            // A file that decodes holds no damage libjpeg would warn about further on (issue 24
            // item 15: damaged JPEGs decoded to gray or garbage with only a stderr line).
            let data = Data(bytes)
            if (try? ImageFile.decode(data: data, name: "fuzz", maxPixels: 1 << 20)) != nil,
               (try? ImageFile.inspect(data: data))?.format == .jpeg, let damage = JPEGCodec.damageLeftUnreported(data) {
                fatalError("a damaged JPEG decoded silently: \(damage)")
            }
        case .svg:
            _ = try? SVGDocument.parse(String(decoding: bytes, as: UTF8.self))
        case .pickle:
            _ = try? TorchCheckpoint(bytes: [UInt8](bytes), name: "fuzz")
        case .onnx:
            _ = try? ONNXModel(bytes: [UInt8](bytes), name: "fuzz")
        case .snapshot:
            _ = try? SketchSession.encoderName(inSnapshot: Data(bytes))
        case .manifest:
            _ = BatchItem.parse(manifest: String(decoding: bytes, as: UTF8.self), base: URL(fileURLWithPath: "/nonexistent"))
        }
    }
}

#if FUZZING
nonisolated(unsafe) private var selected: FuzzTarget?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if selected == nil {
        let name = ProcessInfo.processInfo.environment["CLIPASCENE_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("set CLIPASCENE_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        selected = target
    }
    selected?.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
/// `clipascene-fuzz TARGET FILE|FOLDER…`: runs each file through the target once.
@main
struct FuzzReplay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("usage: clipascene-fuzz TARGET FILE|FOLDER…; targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        var files: [String] = []
        for path in args.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.filter { !$0.hasPrefix(".") }.sorted().map { "\(path)/\($0)" }
            } else {
                files.append(path)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            data.withUnsafeBytes { target.run($0) }
        }
        print("\(target.rawValue): \(files.count) inputs, no crash")
    }
}
#endif
