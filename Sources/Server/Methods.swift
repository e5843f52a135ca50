import Foundation

/// How a method runs: at once, in order on the server's read queue; in order on its document's
/// queue; or (`reading`) at once from the document's published state, unless the document has
/// none yet (its loadImage is queued or running) or the server runs `--ordered`, when it waits
/// its turn on the document's queue.
enum Handler: Sendable {
    case immediate(@Sendable (Server, Request) throws -> JSON)
    /// `creates`: the request may open the document (loadImage, restoreSession).
    case document(creates: Bool, @Sendable (Document, Request) throws -> JSON)
    case reading(@Sendable (Document, Request) throws -> JSON)
}

extension Server {
    /// Every request method, by name. `protocol/clipascene.openrpc.json` describes each.
    static let handlers: [String: Handler] = [
        "loadImage": .document(creates: true) { try $0.loadImage($1) },
        "setAbstraction": .document(creates: false) { try $0.setAbstraction($1) },
        "step": .document(creates: false) { try $0.step($1) },
        "runMatrix": .document(creates: false) { try $0.runMatrix($1) },
        "saveSession": .document(creates: false) { try $0.saveSession($1) },
        "restoreSession": .document(creates: true) { try $0.restoreSession($1) },
        "closeDocument": .document(creates: false) { try $0.close($1) },
        "getSVG": .reading { try $0.svg($1) },
        "getPreview": .reading { try $0.preview($1) },
        "getStatus": .immediate { server, r in
            try r.params.only([])
            return server.status()
        },
        "shutdown": .immediate { server, _ in server.shutdown() },
    ]

    static let methodNames = (["initialize"] + handlers.keys).sorted()
}
