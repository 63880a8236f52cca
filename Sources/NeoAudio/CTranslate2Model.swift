import Foundation
import NeoTensor
import NeoIO

/// Reader for CTranslate2's `model.bin`, all little-endian:
///
///     u32 binary version (≥ 2 has a spec revision; 6 in current files)
///     string spec name ("WhisperSpec"), u32 spec revision
///     u32 variable count, then per variable:
///         string name, u8 rank, u32 × rank dims, u8 dtype, u32 byte count, bytes
///     u32 alias count, then per alias: string alias, string target name
///
/// where a string is a u16 length (with the terminating NUL) and its bytes. Dtype ids:
/// 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Floating variables are returned
/// as float32 tensors; integer scalars (e.g. `encoder/num_heads`) as `integers`.
public struct CTranslate2Model {
    public var version: UInt32
    public var specName: String
    public var specRevision: UInt32
    public var tensors: [String: Tensor]
    public var integers: [String: [Int]]
    public var aliases: [String: String]

    /// Reads the file, keeping only variables whose name satisfies `include` (all by default).
    public static func read(_ path: String, include: (String) -> Bool = { _ in true }) throws -> CTranslate2Model {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw AudioError(file: path, "cannot be read (\(error.localizedDescription))")
        }
        var r = ByteReader(data: data, path: path)
        let version = try r.u32()
        guard (1...20).contains(version) else {
            throw AudioError(file: path, "is not a CTranslate2 model.bin (binary version \(version))")
        }
        let spec = version >= 2 ? try r.string() : ""
        let revision = version >= 2 ? try r.u32() : 1
        let count = try r.u32()
        var model = CTranslate2Model(version: version, specName: spec, specRevision: revision, tensors: [:], integers: [:], aliases: [:])
        for _ in 0..<count {
            let name = try r.string()
            let rank = Int(try r.u8())
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(Int(try r.u32())) }
            let dtype = try r.u8()
            let bytes = Int(try r.u32())
            let elements = shape.reduce(1, *)
            let width: Int
            switch dtype {
            case 0, 3: width = 4
            case 2, 4, 5: width = 2
            case 1: width = 1
            default: throw AudioError(file: path, "variable '\(name)' has unknown dtype id \(dtype)")
            }
            guard bytes == elements * width else {
                throw AudioError(file: path, "variable '\(name)' \(shape) declares \(bytes) bytes, expected \(elements * width)")
            }
            let start = try r.skip(bytes)
            guard include(name) else { continue }
            data.withUnsafeBytes { raw in
                let src = raw.baseAddress! + start
                switch dtype {
                case 0, 4, 5:
                    let t = Tensor.empty(shape)
                    let out = t.data
                    for i in 0..<elements {
                        switch dtype {
                        case 0: out[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)))
                        case 4: out[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)))
                        default: out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))) << 16)
                        }
                    }
                    model.tensors[name] = t
                case 1:
                    model.integers[name] = (0..<elements).map { Int(src.load(fromByteOffset: $0, as: Int8.self)) }
                case 2:
                    model.integers[name] = (0..<elements).map { Int(Int16(littleEndian: src.loadUnaligned(fromByteOffset: $0 &* 2, as: Int16.self))) }
                default:
                    model.integers[name] = (0..<elements).map { Int(Int32(littleEndian: src.loadUnaligned(fromByteOffset: $0 &* 4, as: Int32.self))) }
                }
            }
        }
        if r.remaining >= 4 {
            let aliasCount = try r.u32()
            for _ in 0..<aliasCount {
                let alias = try r.string()
                model.aliases[alias] = try r.string()
            }
        }
        return model
    }
}

/// Bounds-checked little-endian reads; running out of bytes is a "truncated" error.
private struct ByteReader {
    let data: Data
    let path: String
    var offset = 0
    var remaining: Int { data.count - offset }

    mutating func skip(_ n: Int) throws -> Int {
        guard n >= 0, n <= remaining else {
            throw AudioError(file: path, "is truncated: needs \(n) more bytes at offset \(offset) but the file ends at \(data.count)")
        }
        defer { offset += n }
        return offset
    }
    mutating func u8() throws -> UInt8 { let o = try skip(1); return data[data.startIndex + o] }
    mutating func u16() throws -> UInt16 {
        let o = try skip(2)
        return data.withUnsafeBytes { UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
    }
    mutating func u32() throws -> UInt32 {
        let o = try skip(4)
        return data.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    }
    mutating func string() throws -> String {
        let n = Int(try u16())
        let o = try skip(n)
        let bytes = data[(data.startIndex + o)..<(data.startIndex + o + n)]
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// IEEE 754 half → single precision, exact (subnormals, infinities and NaN included), without
/// relying on the platform's Float16.
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}
