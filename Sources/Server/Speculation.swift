import Foundation
import Sketching

/// Cells a finished document computes ahead while it is idle: the neighbours of its abstraction
/// (simplicity +1, fidelity +1, simplicity −1, fidelity −1, in that order: the cheapest first),
/// each a whole session, so a `setAbstraction` onto one swaps it in and answers at once.
/// Every cell held takes a slot of the server's `CellBudget` (each about 75 MB: two parts'
/// networks and optimisers), so all documents together hold at most `--speculate-cells`.
///
/// A cell is what adopting its abstraction and stepping to the end would give: a simplicity
/// neighbour continues (or rewinds) a copy of the current session, a fidelity neighbour starts
/// afresh. So cells are valid only for the state they were computed from; any change to the
/// document's session (another object, abstraction or step count) forgets them.
///
/// Touched only on the document's queue.
final class Speculation {
    let budget: CellBudget
    private(set) var cells: [SketchSession] = []
    private var basis: (session: ObjectIdentifier, abstraction: Abstraction, steps: Int)?

    init(budget: CellBudget) {
        self.budget = budget
    }

    deinit { budget.give(back: cells.count) }

    /// Forgets every cell (the document closed).
    func clear() {
        budget.give(back: cells.count)
        cells = []
        basis = nil
    }

    /// Forgets the cells unless they were computed for `current` as it is now.
    func validate(against current: SketchSession) {
        let now = (ObjectIdentifier(current), current.abstraction, current.stepsDone)
        if let basis, basis.session == now.0, basis.abstraction == now.1, basis.steps == now.2 { return }
        clear()
        basis = now
    }

    /// The cell for `abstraction`, taken out of the store (nil when there is none).
    func take(_ abstraction: Abstraction, current: SketchSession) -> SketchSession? {
        validate(against: current)
        guard let i = cells.firstIndex(where: { $0.abstraction == abstraction }) else { return nil }
        budget.give(back: 1)
        return cells.remove(at: i)
    }

    /// After a swap to `current`: the session swapped out, if finished, is the new one's first
    /// cell (a neighbour: the user may well go back); the others were neighbours of the old one.
    func swapped(to current: SketchSession, keeping previous: SketchSession) {
        clear()
        if previous.isComplete && budget.take() { cells = [previous] }
        basis = (ObjectIdentifier(current), current.abstraction, current.stepsDone)
    }

    /// The neighbours of `a` in the order they are computed. A raw encoder depth has no
    /// fidelity neighbours (fidelity then only sets the simplicity division).
    static func neighbours(of a: Abstraction) -> [Abstraction] {
        var out: [Abstraction] = []
        func with(_ change: (inout Abstraction) -> Void) { var n = a; change(&n); out.append(n) }
        if a.simplicity < Abstraction.simplicityRange.upperBound { with { $0.simplicity += 1 } }
        if a.depth == nil && a.fidelity < Abstraction.fidelityRange.upperBound { with { $0.fidelity += 1 } }
        if a.simplicity > Abstraction.simplicityRange.lowerBound { with { $0.simplicity -= 1 } }
        if a.depth == nil && a.fidelity > Abstraction.fidelityRange.lowerBound { with { $0.fidelity -= 1 } }
        return out
    }

    /// The next piece of work around `current`: an unfinished cell (to step), or a new cell
    /// for the first neighbour not held yet, made by `make` (`isNew` true); nil when every
    /// neighbour is held or the budget has no slot left.
    /// `wake` runs (once) when a slot frees after the budget had none.
    func nextWork(around current: SketchSession, wake: @escaping @Sendable () -> Void,
                  make: (Abstraction) throws -> SketchSession) throws -> (cell: SketchSession, isNew: Bool)? {
        validate(against: current)
        if let unfinished = cells.first(where: { !$0.isComplete }) { return (unfinished, false) }
        guard let n = Self.neighbours(of: current.abstraction).first(where: { n in !cells.contains { $0.abstraction == n } })
        else { return nil }
        guard budget.take(orWake: wake) else { return nil }
        do {
            let cell = try make(n)
            cells.append(cell)
            return (cell, true)
        } catch {
            budget.give(back: 1)
            throw error
        }
    }
}

/// The cells all documents may hold together (`--speculate-cells`), shared by their
/// `Speculation`s: the bound on the memory speculation takes.
final class CellBudget: @unchecked Sendable {
    let limit: Int
    private let held = Locked(0)

    init(limit: Int) { self.limit = limit }

    /// Documents to wake when a slot frees (each asked once).
    private let waiting = Locked<[@Sendable () -> Void]>([])

    /// A slot for one more cell, if there is one; else `wake` runs when one frees.
    func take(orWake wake: (@Sendable () -> Void)? = nil) -> Bool {
        let taken = held.withLock { n -> Bool in
            guard n < limit else { return false }
            n += 1
            return true
        }
        if !taken, let wake { waiting.withLock { $0.append(wake) } }
        return taken
    }

    func give(back count: Int) {
        guard count > 0 else { return }
        held.withLock { $0 -= count }
        let wake = waiting.withLock { w -> [@Sendable () -> Void] in defer { w = [] }; return w }
        for w in wake { w() }
    }
}
