/// Overflow-checked arithmetic for sizes, counts and offsets that come from files and
/// messages: a header may claim anything, so every product or sum of such numbers goes
/// through here and is compared with a limit before anything is allocated.
public enum CheckedSize {
    /// a × b, or nil when either is negative or the product overflows.
    public static func product(_ a: Int, _ b: Int) -> Int? {
        guard a >= 0, b >= 0 else { return nil }
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : p
    }

    /// The product of `dims` (1 for none), or nil when any is negative, it overflows, or it
    /// exceeds `limit`.
    public static func product(_ dims: [Int], limit: Int = .max) -> Int? {
        var total = 1
        for d in dims {
            guard let p = product(total, d), p <= limit else { return nil }
            total = p
        }
        return total
    }

    /// a + b, or nil when either is negative or the sum overflows.
    public static func sum(_ a: Int, _ b: Int) -> Int? {
        guard a >= 0, b >= 0 else { return nil }
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : s
    }

    /// True when `offset ..< offset + length` lies inside `0 ..< count` (no overflow possible).
    public static func fits(offset: Int, length: Int, in count: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= count && length <= count - offset
    }
}
