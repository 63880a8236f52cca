import XCTest
import Foundation
import NeoTensor
import NeoIO
import NeoTestSupport

final class SafeTensorsTests: XCTestCase {
    /// A file from a header text (padded to a multiple of 8 like real writers) and a data buffer.
    static func file(_ header: String, _ buffer: [UInt8], pad: Bool = true, declaredLength: UInt64? = nil) -> Data {
        var h = Array(header.utf8)
        if pad { h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8) }
        var d = Data()
        withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { d.append(contentsOf: $0) }
        d.append(contentsOf: h)
        d.append(contentsOf: buffer)
        return d
    }

    static func rawHeader(_ h: [UInt8]) -> Data {
        var d = Data()
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(contentsOf: h)
        return d
    }

    /// Malformed files and a phrase the error must contain.
    static func malformedFiles() -> [(String, Data)] {
        let eight = [UInt8](repeating: 1, count: 8)
        let t = { (name: String, dtype: String, shape: String, b: Int, e: Int) in
            "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(b),\(e)]}"
        }
        return [
            ("too short", Data([1, 0, 0])),
            ("runs past the end", file("{}", [], declaredLength: 1000)),
            ("exceeds the", file("{}", [], declaredLength: 1 << 40)),
            ("does not start with '{'", file("[]", [])),
            ("header JSON: unterminated object", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", eight)),
            ("header JSON: expected ':'", file("{\"a\" {}}", [])),
            ("duplicate key", file("{" + t("a", "F32", "[2]", 0, 8) + "," + t("a", "F32", "[2]", 8, 16) + "}", eight + eight)),
            ("unknown dtype 'X9'", file("{" + t("a", "X9", "[2]", 0, 8) + "}", eight)),
            ("needs 16 bytes", file("{" + t("a", "F32", "[2,2]", 0, 12) + "}", [UInt8](repeating: 0, count: 12))),
            ("gap in the data buffer", file("{" + t("a", "F32", "[2]", 0, 8) + "," + t("b", "F32", "[2]", 12, 20) + "}", [UInt8](repeating: 0, count: 20))),
            ("overlaps", file("{" + t("a", "F32", "[2]", 0, 8) + "," + t("b", "F32", "[2]", 4, 12) + "}", [UInt8](repeating: 0, count: 12))),
            ("belong to no tensor", file("{" + t("a", "F32", "[2]", 0, 8) + "}", eight + [0, 0, 0, 0])),
            ("truncated", file("{" + t("a", "F32", "[4]", 0, 16) + "}", eight)),
            ("metadata value for 'k' is not a string", file("{\"__metadata__\":{\"k\":1}}", [])),
            ("ends (0) before it begins (8)", file("{" + t("a", "F32", "[2]", 8, 0) + "}", eight)),
            ("not a non-negative integer", file("{" + t("a", "F32", "[-2]", 0, 8) + "}", eight)),
            ("not valid UTF-8", rawHeader(Array("{\"a".utf8) + [0xff] + Array("\":{}}   ".utf8))),
            ("no string 'dtype'", file("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", eight)),
        ]
    }

    func testMalformedFilesGiveClearErrors() throws {
        for (phrase, data) in Self.malformedFiles() {
            XCTAssertThrowsError(try SafeTensorsFile(data: data, path: "bad.safetensors"), phrase) { e in
                let text = "\(e)"
                XCTAssertTrue(text.hasPrefix("bad.safetensors: malformed safetensors file: "), text)
                XCTAssertTrue(text.contains(phrase), "expected '\(phrase)' in: \(text)")
            }
        }
    }

    func testRoundTripAndExactHeaderBytes() throws {
        let dir = PythonCrossCheck.temporaryDirectory("st")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.safetensors").path
        let tensors: [String: Tensor] = [
            "b.weight": randn([3, 4], seed: 1),
            "a.bias": randn([5], seed: 2),
            "s": Tensor.scalar(7),
            "e": Tensor.zeros([2, 0]),
            "view": randn([4, 3], seed: 3).transpose(0, 1),
        ]
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: path)
        let back = try SafeTensors.read(path)
        XCTAssertEqual(back.metadata, ["format": "pt"])
        XCTAssertEqual(Set(back.tensors.keys), Set(tensors.keys))
        for (k, t) in tensors {
            XCTAssertEqual(back.tensors[k]!.shape, t.shape, k)
            XCTAssertEqual(back.tensors[k]!.toArray(), t.toArray(), k)
        }
        let file = try SafeTensorsFile(path: path)
        XCTAssertEqual(file.names, ["a.bias", "b.weight", "e", "s", "view"])   // sorted, packed in order
        XCTAssertEqual(file.entries.map(\.begin), [0, 20, 68, 68, 72])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["m.safetensors"])

        // The exact bytes of a small file: length, JSON, space padding, data.
        let one = try SafeTensors.encode(["x": Tensor([1, 2])], metadata: ["k": "v"])
        let json = "{\"__metadata__\":{\"k\":\"v\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"
        let padded = json + String(repeating: " ", count: (8 - json.utf8.count % 8) % 8)
        XCTAssertEqual(one.prefix(8), Data(withUnsafeBytes(of: UInt64(padded.utf8.count).littleEndian) { Array($0) }))
        XCTAssertEqual(String(decoding: one[8..<(8 + padded.utf8.count)], as: UTF8.self), padded)
        XCTAssertEqual(padded.utf8.count % 8, 0)
        XCTAssertEqual(Array(one.suffix(8)), [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40])
        // No metadata: no __metadata__ key; an empty dictionary of tensors is a valid file.
        XCTAssertFalse(String(decoding: try SafeTensors.encode(["x": Tensor([1])]), as: UTF8.self).contains("__metadata__"))
        XCTAssertEqual(try SafeTensorsFile(data: try SafeTensors.encode([:])).entries, [])
        XCTAssertThrowsError(try SafeTensors.encode(["__metadata__": Tensor([1])]))
    }

    func testHalfBFloatAndDoubleDecodeAndUnsupportedDtypeIsNamed() throws {
        func le16(_ v: [UInt16]) -> [UInt8] { v.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } }
        let f16: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x8000, 0x3555]
        let bf16: [UInt16] = [0x3F80, 0xC0A0, 0x0001, 0xFF80]
        let f64 = [0.5, -1e300].flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let i64 = [UInt8](repeating: 0, count: 8)
        let header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[0,14]},"
            + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[14,22]},"
            + "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[22,38]},"
            + "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[38,46]}}"
        let f = try SafeTensorsFile(data: Self.file(header, le16(f16) + le16(bf16) + f64 + i64), path: "mixed")
        XCTAssertEqual(try f.tensor("h").toArray(), [1, -2, 65504, Float(sign: .plus, exponent: -24, significand: 1), .infinity, -0.0, 0.333251953125])
        XCTAssertEqual(try f.tensor("b").shape, [2, 2])
        XCTAssertEqual(try f.tensor("b").toArray(), [1, -5, Float(bitPattern: 0x0001_0000), -.infinity])
        XCTAssertEqual(try f.tensor("d").toArray(), [0.5, -.infinity])
        XCTAssertThrowsError(try f.tensor("i")) { XCTAssertTrue("\($0)".contains("tensor 'i' has dtype I64"), "\($0)") }
        XCTAssertThrowsError(try f.tensors()) { XCTAssertTrue("\($0)".contains("'i'"), "\($0)") }
        XCTAssertThrowsError(try f.tensor("zzz")) { XCTAssertEqual("\($0)", "mixed: no tensor 'zzz'") }
        XCTAssertEqual(f.entry("i")?.shape, [])
    }

    func testJSONEscapesRoundTrip() throws {
        let names = ["tab\there", "quote\"back\\slash", "ctrl\u{01}", "emoji 🎙️", "slash/name"]
        let meta = ["k\n": "v\u{1f}\"", "ü": "ß"]
        let data = try SafeTensors.encode(Dictionary(uniqueKeysWithValues: names.map { ($0, Tensor([1])) }), metadata: meta)
        let f = try SafeTensorsFile(data: data)
        XCTAssertEqual(Set(f.names), Set(names))
        XCTAssertEqual(f.metadata, meta)
        // \u escapes with surrogate pairs, written by other writers, decode too.
        let h = "{\"__metadata__\":{\"e\":\"\\ud83c\\udf99\\u00e9\\/\"}}"
        XCTAssertEqual(try SafeTensorsFile(data: Self.file(h, [])).metadata, ["e": "🎙é/"])
    }
}
