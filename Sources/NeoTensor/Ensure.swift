/// Like `precondition`, but the message survives optimised builds (Swift drops precondition
/// messages under -O, which would leave users with a bare "illegal instruction"). Use it for
/// every check a user's misuse can trigger: shapes that do not match, ops without a backward…
@inline(__always)
public func ensure(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                   file: StaticString = #fileID, line: UInt = #line) {
    if _slowPath(!condition()) { ensureFailed(message(), file: file, line: line) }
}

/// Stops with `message` (kept in optimised builds).
@inline(never)
public func ensureFailed(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError(message, file: file, line: line)
}
