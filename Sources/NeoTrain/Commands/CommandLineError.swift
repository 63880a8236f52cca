import Foundation

/// How errors from NeoTrain and the modules below are shown on the command line.
public enum CommandLineError {
    /// The one-line message for an error of the framework, or nil for errors the argument
    /// parser should report itself (usage errors, help requests).
    public static func message(for error: Error) -> String? {
        let typeName = String(reflecting: type(of: error))
        if typeName.hasPrefix("ArgumentParser.") { return nil }
        return oneLine(String(describing: error))
    }

    /// Joins a multi-line description into one line: lines apart by "; ", a line that
    /// introduces a list (ends in ":") by a space ("refused: identity 'a': …; identity 'b': …").
    public static func oneLine(_ s: String) -> String {
        let lines = s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var out = ""
        for line in lines {
            if !out.isEmpty { out += out.hasSuffix(":") ? " " : "; " }
            out += line
        }
        return out
    }
}
