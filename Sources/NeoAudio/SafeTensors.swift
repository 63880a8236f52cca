import Foundation
import NeoTensor
import NeoIO

/// A minimal reader and writer for the safetensors format, local to NeoAudio until NeoIO has
/// one: an 8-byte little-endian header length, a JSON header mapping each name to
/// {dtype, shape, data_offsets: [begin, end]} (plus an optional "__metadata__" of strings), then
/// the raw little-endian data. F32, F16 and BF16 read as float32; writing is F32 only.
public enum SafeTensors {
    public struct File {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
    }

    public static func read(_ path: String) throws -> File {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw AudioError(file: path, "cannot be read (\(error.localizedDescription))")
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> File {
        guard data.count >= 8 else { throw AudioError(file: path, "is not a safetensors file (shorter than its 8-byte header length)") }
        let headerLength = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard headerLength > 1, headerLength <= UInt64(data.count - 8), headerLength < 1 << 28 else {
            throw AudioError(file: path, "is not a safetensors file (header length \(headerLength) does not fit a \(data.count)-byte file)")
        }
        let headerData = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(headerLength)))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw AudioError(file: path, "is not a safetensors file (its header is not a JSON object)")
        }
        let base = data.startIndex + 8 + Int(headerLength)
        let payload = data.count - 8 - Int(headerLength)
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [NSNumber])?.map(\.intValue),
                  let offsets = (entry["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2 else {
                throw AudioError(file: path, "tensor '\(name)' has a malformed header entry")
            }
            let count = shape.reduce(1, *)
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            default: throw AudioError(file: path, "tensor '\(name)' has dtype \(dtype); only F32, F16 and BF16 are read")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] <= payload, offsets[1] - offsets[0] == count * width else {
                throw AudioError(file: path, "tensor '\(name)' (\(dtype) \(shape)) has data offsets \(offsets) that do not fit its size or the file (truncated?)")
            }
            let t = Tensor.empty(shape)
            let out = t.data
            data.withUnsafeBytes { raw in
                let src = raw.baseAddress! + (base - data.startIndex) + offsets[0]
                switch dtype {
                case "F32":
                    for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))) }
                case "F16":
                    for i in 0..<count { out[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))) }
                default:
                    for i in 0..<count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))) << 16) }
                }
            }
            tensors[name] = t
        }
        return File(tensors: tensors, metadata: metadata)
    }

    /// Writes `tensors` as F32 (names sorted, data in that order), atomically.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]] as [String: Any]
            offset += 4 * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so the data starts 8-byte aligned.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            let t = tensors[name]!.contiguous()
            let values = UnsafeBufferPointer(start: t.data, count: t.count).map { $0.bitPattern.littleEndian }
            values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        do { try AtomicFile.write(out, to: path) } catch {
            throw AudioError(file: path, "cannot be written (\(error))")
        }
    }
}
