public enum InspectCommand {
    public static func describe(path: String, includeRecipe: Bool) throws -> String { "" }
}
