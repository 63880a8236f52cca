import Foundation
import CHDF5
import NeoTensor

/// How a dataset's chunks are compressed.
public enum HDF5Compression: Sendable, Equatable {
    case none
    /// Zstandard through HDF5 filter 32015 (the registered id that hdf5plugin's `Zstd` uses),
    /// `level` in 1…22 (cd_values[0], as hdf5plugin stores it).
    case zstd(level: Int)
}

/// Storage options for a new dataset.
public struct HDF5DatasetOptions: Sendable, Equatable {
    public var compression: HDF5Compression
    /// Chunk shape for chunked (compressed) datasets; nil picks about 1 MiB chunks that keep the
    /// trailing dimensions whole.
    public var chunkShape: [Int]?
    public init(compression: HDF5Compression = .none, chunkShape: [Int]? = nil) {
        self.compression = compression
        self.chunkShape = chunkShape
    }
    public static let plain = HDF5DatasetOptions()
    public static func zstd(level: Int = 3) -> HDF5DatasetOptions { HDF5DatasetOptions(compression: .zstd(level: level)) }
}

/// Element types a dataset can hold, as far as this wrapper distinguishes them.
public enum HDF5ElementType: Sendable, Equatable, CustomStringConvertible {
    case float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case string
    case other(String)

    public var description: String {
        switch self {
        case .float32: return "float32"
        case .float64: return "float64"
        case .int8: return "int8"
        case .int16: return "int16"
        case .int32: return "int32"
        case .int64: return "int64"
        case .uint8: return "uint8"
        case .uint16: return "uint16"
        case .uint32: return "uint32"
        case .uint64: return "uint64"
        case .string: return "string"
        case .other(let s): return s
        }
    }
    public var isNumeric: Bool {
        switch self { case .string, .other: return false; default: return true }
    }
    public var isInteger: Bool {
        switch self {
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64: return true
        default: return false
        }
    }
}

/// Shape, type and storage of one dataset.
public struct HDF5DatasetInfo: Sendable, Equatable {
    public var path: String
    public var shape: [Int]
    public var elementType: HDF5ElementType
    /// Chunk shape when the dataset is chunked.
    public var chunkShape: [Int]?
    /// HDF5 filter ids in pipeline order (32015 = zstd).
    public var filterIDs: [Int]
    /// Bytes the data occupies in the file (after compression).
    public var storageBytes: Int
    public var count: Int { Tensor.count(shape) }
}

/// An attribute value. Written as: string → variable-length UTF-8 scalar, int64 → int64 scalar,
/// double → float64 scalar, floats → float32 vector, int64s → int64 vector, doubles → float64
/// vector, strings → variable-length UTF-8 vector; each reads back as the same case.
public enum HDF5Attribute: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int64(Int64)
    case double(Double)
    case floats([Float])
    case int64s([Int64])
    case doubles([Double])
    case strings([String])

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var int64Value: Int64? {
        switch self {
        case .int64(let v): return v
        case .int64s(let v) where v.count == 1: return v[0]
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .double(let v): return v
        case .int64(let v): return Double(v)
        case .doubles(let v) where v.count == 1: return v[0]
        case .floats(let v) where v.count == 1: return Double(v[0])
        default: return nil
        }
    }
    public var description: String {
        switch self {
        case .string(let s): return s.debugDescription
        case .int64(let v): return "\(v)"
        case .double(let v): return "\(v)"
        case .floats(let v): return "\(v)"
        case .int64s(let v): return "\(v)"
        case .doubles(let v): return "\(v)"
        case .strings(let v): return "\(v)"
        }
    }
}

public enum HDF5ObjectKind: Sendable, Equatable { case group, dataset, other }

/// Process-wide HDF5 setup: one lock (HDF5 builds without thread safety must not be entered
/// concurrently; thread-safe builds serialise calls anyway) and the zstd filter registration.
enum HDF5Library {
    static let lock = NSRecursiveLock()

    /// nil when the library is ready, otherwise why it is not. Initialised once, thread-safely.
    static let setupProblem: String? = {
        lock.lock(); defer { lock.unlock() }
        if H5open() < 0 { return "the HDF5 library failed to initialise" }
        H5Eset_auto2(neo_h5e_default(), nil, nil)
        return ZstdFilter.register()
    }()

    /// Runs `body` holding the lock, with HDF5's automatic error printing off for this thread
    /// (the error stack is per thread in thread-safe builds).
    static func call<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        H5Eset_auto2(neo_h5e_default(), nil, nil)
        return try body()
    }

    /// The messages on the current thread's error stack (outermost and innermost), then clears it.
    static func drainErrorStack() -> String {
        final class Box { var messages: [String] = [] }
        let box = Box()
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        H5Ewalk2(neo_h5e_default(), H5E_WALK_DOWNWARD, { _, err, data in
            guard let err, let data else { return 0 }
            let b = Unmanaged<Box>.fromOpaque(data).takeUnretainedValue()
            if let d = err.pointee.desc {
                let s = String(cString: d)
                if !s.isEmpty { b.messages.append(s) }
            }
            return 0
        }, ctx)
        H5Eclear2(neo_h5e_default())
        let m = box.messages
        if m.isEmpty { return "HDF5 error" }
        if m.count == 1 || m.first == m.last { return m[0] }
        return "\(m.first!) (\(m.last!))"
    }
}

/// An open HDF5 file. Paths of objects are absolute ("/model/blocks.3/attn/qkv/weight"); a
/// missing leading "/" is added. Every failure is a `NeoIOError` naming the file and the object.
///
/// A new file is built in memory and written to disk in one piece when it is closed. libhdf5
/// does not survive its own write errors: after a full disk or a file-size limit it leaves a
/// half-closed file that crashes the process when the library shuts down. Built in memory, the
/// library never sees the disk; the bytes go out with plain `write` calls whose failure is one
/// error (and no partial file). Only `close` writes it: a file dropped unclosed (a writer that
/// failed half-way) leaves nothing on disk.
public final class HDF5File {
    public let path: String
    public let isWritable: Bool
    private var fileID: hid_t
    /// Created in memory (`create`): `close` writes the image to `path`.
    private let inMemory: Bool

    private init(path: String, fileID: hid_t, writable: Bool, inMemory: Bool = false) {
        self.path = path
        self.fileID = fileID
        self.isWritable = writable
        self.inMemory = inMemory
    }

    /// A file dropped without `close` is abandoned: one made by `create` is never written.
    deinit {
        if fileID >= 0 { HDF5Library.call { _ = H5Fclose(fileID) } }
    }

    private static func fileAccessList() -> hid_t {
        let fapl = H5Pcreate(neo_h5p_file_access())
        // Closing the file closes any object id left open, so no handle outlives it.
        if fapl >= 0 { H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) }
        return fapl
    }

    /// Creates a new file (replacing one at `path` unless `overwrite` is false). It is built in
    /// memory and written to `path` by `close`.
    public static func create(_ path: String, overwrite: Bool = true) throws -> HDF5File {
        if let p = HDF5Library.setupProblem { throw NeoIOError(path, p) }
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw NeoIOError(path, "cannot create HDF5 file: the file exists")
        }
        // The folder must take a file now, not only after all the work.
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard access(folder, W_OK) == 0 else {
            throw NeoIOError(path, "cannot create HDF5 file: \(String(cString: strerror(errno))) (\(folder))")
        }
        return try HDF5Library.call {
            let fapl = fileAccessList()
            defer { if fapl >= 0 { H5Pclose(fapl) } }
            // Core driver without backing store: the file lives in memory, grown 4 MiB at a time.
            guard fapl >= 0, H5Pset_fapl_core(fapl, 4 << 20, false) >= 0 else {
                throw NeoIOError(path, "cannot create HDF5 file: \(HDF5Library.drainErrorStack())")
            }
            let id = H5Fcreate(path, neo_h5f_acc_trunc(), neo_h5p_default(), fapl)
            guard id >= 0 else { throw NeoIOError(path, "cannot create HDF5 file: \(HDF5Library.drainErrorStack())") }
            return HDF5File(path: path, fileID: id, writable: true, inMemory: true)
        }
    }

    /// Opens an existing file, read-only unless `writable`.
    public static func open(_ path: String, writable: Bool = false) throws -> HDF5File {
        if let p = HDF5Library.setupProblem { throw NeoIOError(path, p) }
        guard FileManager.default.fileExists(atPath: path) else { throw NeoIOError(path, "no such file") }
        return try HDF5Library.call {
            let fapl = fileAccessList()
            defer { if fapl >= 0 { H5Pclose(fapl) } }
            let id = H5Fopen(path, writable ? neo_h5f_acc_rdwr() : neo_h5f_acc_rdonly(), fapl)
            guard id >= 0 else { throw NeoIOError(path, "cannot open as HDF5: \(HDF5Library.drainErrorStack())") }
            return HDF5File(path: path, fileID: id, writable: writable)
        }
    }

    /// Writes everything buffered to the file.
    public func flush() throws {
        try HDF5Library.call {
            try requireOpen()
            guard H5Fflush(fileID, H5F_SCOPE_GLOBAL) >= 0 else { throw fail("cannot flush", "/") }
        }
    }

    /// Closes the file; further use is an error. Safe to call twice. A file made by `create`
    /// is written to disk here (a failure removes the partial file).
    public func close() throws {
        let image: [UInt8]? = try HDF5Library.call {
            guard fileID >= 0 else { return nil }
            var image: [UInt8]? = nil
            var problem: String? = nil
            if inMemory {
                if H5Fflush(fileID, H5F_SCOPE_GLOBAL) < 0 {
                    problem = "cannot finish HDF5 file: \(HDF5Library.drainErrorStack())"
                } else {
                    let size = H5Fget_file_image(fileID, nil, 0)
                    if size < 0 {
                        problem = "cannot finish HDF5 file: \(HDF5Library.drainErrorStack())"
                    } else {
                        var bytes = [UInt8](repeating: 0, count: size)
                        let got = bytes.withUnsafeMutableBytes { H5Fget_file_image(fileID, $0.baseAddress, size) }
                        if got == size { image = bytes } else { problem = "cannot finish HDF5 file: \(HDF5Library.drainErrorStack())" }
                    }
                }
            }
            let r = H5Fclose(fileID)
            fileID = -1
            if let problem { throw NeoIOError(path, problem) }
            guard r >= 0 else { throw NeoIOError(path, "cannot close HDF5 file: \(HDF5Library.drainErrorStack())") }
            return image
        }
        if let image { try image.withUnsafeBytes { try AtomicFile.writeWhole($0, to: path) } }
    }

    // MARK: Helpers

    private func requireOpen() throws {
        if fileID < 0 { throw NeoIOError(path, "HDF5 file is already closed") }
    }
    private func requireWritable(_ object: String) throws {
        try requireOpen()
        if !isWritable { throw NeoIOError(path, "cannot write '\(object)': file is open read-only") }
    }
    private func fail(_ what: String, _ object: String) -> NeoIOError {
        NeoIOError(path, "\(what) '\(object)': \(HDF5Library.drainErrorStack())")
    }
    /// "/a/b" form of a user path.
    static func normalize(_ p: String) -> String {
        var s = p.hasPrefix("/") ? p : "/" + p
        while s.count > 1 && s.hasSuffix("/") { s.removeLast() }
        return s
    }
    private static func join(_ parent: String, _ name: String) -> String {
        parent == "/" ? "/" + name : parent + "/" + name
    }
    /// Link-creation list that creates missing parent groups.
    private func intermediateGroupsList() -> hid_t {
        let lcpl = H5Pcreate(neo_h5p_link_create())
        if lcpl >= 0 { H5Pset_create_intermediate_group(lcpl, 1) }
        return lcpl
    }

    // MARK: Structure

    /// What the object at `path` is, or nil when nothing is there (a missing parent is nil too).
    public func kind(at objectPath: String) throws -> HDF5ObjectKind? {
        let p = HDF5File.normalize(objectPath)
        return try HDF5Library.call {
            try requireOpen()
            if p == "/" { return .group }
            // Walk the components so that a missing parent is "absent", not an error.
            var prefix = ""
            for comp in p.split(separator: "/") {
                prefix += "/" + comp
                let e = H5Lexists(fileID, prefix, neo_h5p_default())
                if e < 0 { H5Eclear2(neo_h5e_default()); return nil }
                if e == 0 { return nil }
            }
            let o = H5Oopen(fileID, p, neo_h5p_default())
            guard o >= 0 else { H5Eclear2(neo_h5e_default()); return nil }
            defer { H5Oclose(o) }
            switch H5Iget_type(o) {
            case H5I_GROUP: return .group
            case H5I_DATASET: return .dataset
            default: return .other
            }
        }
    }

    public func exists(_ objectPath: String) throws -> Bool { try kind(at: objectPath) != nil }

    /// Creates a group and any missing parents; an existing group is fine.
    public func createGroup(_ groupPath: String) throws {
        let p = HDF5File.normalize(groupPath)
        try HDF5Library.call {
            try requireWritable(p)
            switch try kind(at: p) {
            case .group: return
            case .some: throw NeoIOError(path, "cannot create group '\(p)': a dataset already has that name")
            case nil: break
            }
            let lcpl = intermediateGroupsList()
            defer { if lcpl >= 0 { H5Pclose(lcpl) } }
            let g = H5Gcreate2(fileID, p, lcpl, neo_h5p_default(), neo_h5p_default())
            guard g >= 0 else { throw fail("cannot create group", p) }
            H5Gclose(g)
        }
    }

    /// Names of the direct members of a group, in name order.
    public func members(of groupPath: String) throws -> [(name: String, kind: HDF5ObjectKind)] {
        let p = HDF5File.normalize(groupPath)
        return try HDF5Library.call {
            try requireOpen()
            guard try kind(at: p) == .group else { throw NeoIOError(path, "no group '\(p)'") }
            let g = H5Gopen2(fileID, p, neo_h5p_default())
            guard g >= 0 else { throw fail("cannot open group", p) }
            defer { H5Gclose(g) }
            var info = H5G_info_t()
            guard H5Gget_info(g, &info) >= 0 else { throw fail("cannot list group", p) }
            var out: [(String, HDF5ObjectKind)] = []
            for i in 0..<info.nlinks {
                let len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, neo_h5p_default())
                guard len >= 0 else { throw fail("cannot list group", p) }
                var buf = [CChar](repeating: 0, count: Int(len) + 1)
                H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, buf.count, neo_h5p_default())
                let name = String(decoding: buf.prefix(Int(len)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                out.append((name, try kind(at: HDF5File.join(p, name)) ?? .other))
            }
            return out
        }
    }

    public func groups(in groupPath: String) throws -> [String] {
        try members(of: groupPath).filter { $0.kind == .group }.map(\.name)
    }
    public func datasets(in groupPath: String) throws -> [String] {
        try members(of: groupPath).filter { $0.kind == .dataset }.map(\.name)
    }

    /// Absolute paths of every dataset below a group, depth first in name order.
    public func allDatasets(under groupPath: String = "/") throws -> [String] {
        let p = HDF5File.normalize(groupPath)
        var out: [String] = []
        for m in try members(of: p) {
            let full = HDF5File.join(p, m.name)
            switch m.kind {
            case .dataset: out.append(full)
            case .group: out += try allDatasets(under: full)
            case .other: break
            }
        }
        return out
    }

    // MARK: Dataset info

    private func elementType(of t: hid_t) -> HDF5ElementType {
        let cls = H5Tget_class(t)
        let size = H5Tget_size(t)
        if cls == H5T_FLOAT { return size == 4 ? .float32 : size == 8 ? .float64 : .other("float\(size * 8)") }
        if cls == H5T_STRING { return .string }
        if cls == H5T_INTEGER {
            let signed = H5Tget_sign(t) != H5T_SGN_NONE
            switch (size, signed) {
            case (1, true): return .int8
            case (2, true): return .int16
            case (4, true): return .int32
            case (8, true): return .int64
            case (1, false): return .uint8
            case (2, false): return .uint16
            case (4, false): return .uint32
            case (8, false): return .uint64
            default: return .other("int\(size * 8)")
            }
        }
        return .other("HDF5 type class \(cls.rawValue)")
    }

    private func shape(ofSpace s: hid_t) -> [Int] {
        let rank = Int(H5Sget_simple_extent_ndims(s))
        if rank <= 0 { return [] }
        var dims = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(s, &dims, nil)
        return dims.map { Int($0) }
    }

    private func openDataset(_ p: String) throws -> hid_t {
        guard try kind(at: p) == .dataset else { throw NeoIOError(path, "no dataset '\(p)'") }
        let d = H5Dopen2(fileID, p, neo_h5p_default())
        guard d >= 0 else { throw fail("cannot open dataset", p) }
        return d
    }

    public func info(at datasetPath: String) throws -> HDF5DatasetInfo {
        let p = HDF5File.normalize(datasetPath)
        return try HDF5Library.call {
            try requireOpen()
            let d = try openDataset(p)
            defer { H5Dclose(d) }
            let t = H5Dget_type(d); defer { H5Tclose(t) }
            let s = H5Dget_space(d); defer { H5Sclose(s) }
            let dcpl = H5Dget_create_plist(d); defer { H5Pclose(dcpl) }
            var chunk: [Int]? = nil
            var filters: [Int] = []
            if H5Pget_layout(dcpl) == H5D_CHUNKED {
                let rank = Int(H5Sget_simple_extent_ndims(s))
                var dims = [hsize_t](repeating: 0, count: max(rank, 1))
                H5Pget_chunk(dcpl, Int32(rank), &dims)
                chunk = dims.prefix(rank).map { Int($0) }
                let nf = H5Pget_nfilters(dcpl)
                for i in 0..<max(nf, 0) {
                    var flags: UInt32 = 0
                    var nelem = 0
                    var config: UInt32 = 0
                    let id = H5Pget_filter2(dcpl, UInt32(i), &flags, &nelem, nil, 0, nil, &config)
                    filters.append(Int(id))
                }
            }
            return HDF5DatasetInfo(path: p, shape: shape(ofSpace: s), elementType: elementType(of: t),
                                   chunkShape: chunk, filterIDs: filters, storageBytes: Int(H5Dget_storage_size(d)))
        }
    }

    // MARK: Writing datasets

    static func defaultChunk(_ shape: [Int], elementSize: Int, targetBytes: Int = 1 << 20) -> [Int] {
        var c = shape.map { max($0, 1) }
        var i = 0
        while Tensor.count(c) * elementSize > targetBytes {
            while i < c.count && c[i] == 1 { i += 1 }
            if i == c.count { break }
            c[i] = (c[i] + 1) / 2
        }
        return c
    }

    /// Creates a dataset, writes `bytes` (already in the memory type's layout), closes it.
    private func writeDataset(_ objectPath: String, fileType: hid_t, memType: hid_t, shape: [Int],
                              elementSize: Int, options: HDF5DatasetOptions, bytes: UnsafeRawPointer?) throws {
        let p = HDF5File.normalize(objectPath)
        try requireWritable(p)
        if p == "/" { throw NeoIOError(path, "cannot write a dataset at '/'") }
        for d in shape where d < 0 { throw NeoIOError(path, "dataset '\(p)': negative dimension in shape \(shape)") }
        if try kind(at: p) != nil { throw NeoIOError(path, "cannot create dataset '\(p)': the name is already taken") }
        let count = Tensor.count(shape)
        let space: hid_t
        if shape.isEmpty {
            space = H5Screate(H5S_SCALAR)
        } else {
            let dims = shape.map { hsize_t($0) }
            space = H5Screate_simple(Int32(shape.count), dims, nil)
        }
        guard space >= 0 else { throw fail("cannot make the dataspace of", p) }
        defer { H5Sclose(space) }
        let dcpl = H5Pcreate(neo_h5p_dataset_create())
        defer { H5Pclose(dcpl) }
        // No creation/modification times in dataset headers: the same content gives the same bytes.
        H5Pset_obj_track_times(dcpl, false)
        if case .zstd(let level) = options.compression, !shape.isEmpty, count > 0 {
            guard (1...22).contains(level) else { throw NeoIOError(path, "dataset '\(p)': zstd level \(level) is outside 1…22") }
            let chunk = options.chunkShape ?? HDF5File.defaultChunk(shape, elementSize: elementSize)
            guard chunk.count == shape.count, chunk.allSatisfy({ $0 > 0 }) else {
                throw NeoIOError(path, "dataset '\(p)': chunk shape \(chunk) does not fit shape \(shape)")
            }
            let cdims = zip(chunk, shape).map { hsize_t(min($0, max($1, 1))) }
            guard H5Pset_chunk(dcpl, Int32(cdims.count), cdims) >= 0 else { throw fail("cannot set chunking of", p) }
            var cd: [UInt32] = [UInt32(level)]
            guard H5Pset_filter(dcpl, H5Z_filter_t(ZstdFilter.id), UInt32(H5Z_FLAG_MANDATORY), 1, &cd) >= 0 else {
                throw fail("cannot set the zstd filter on", p)
            }
        } else if let chunk = options.chunkShape, !shape.isEmpty {
            guard chunk.count == shape.count, chunk.allSatisfy({ $0 > 0 }) else {
                throw NeoIOError(path, "dataset '\(p)': chunk shape \(chunk) does not fit shape \(shape)")
            }
            let cdims = zip(chunk, shape).map { hsize_t(min($0, max($1, 1))) }
            guard H5Pset_chunk(dcpl, Int32(cdims.count), cdims) >= 0 else { throw fail("cannot set chunking of", p) }
        }
        let lcpl = intermediateGroupsList()
        defer { if lcpl >= 0 { H5Pclose(lcpl) } }
        let d = H5Dcreate2(fileID, p, fileType, space, lcpl, dcpl, neo_h5p_default())
        guard d >= 0 else { throw fail("cannot create dataset", p) }
        defer { H5Dclose(d) }
        if count > 0, let bytes {
            guard H5Dwrite(d, memType, neo_h5s_all(), neo_h5s_all(), neo_h5p_default(), bytes) >= 0 else {
                throw fail("cannot write dataset", p)
            }
        }
    }

    /// Writes a float32 dataset with the tensor's shape (any rank; rank 0 is a scalar).
    public func write(_ tensor: Tensor, at datasetPath: String, options: HDF5DatasetOptions = .plain) throws {
        let c = tensor.isContiguous ? tensor : tensor.clone()
        try HDF5Library.call {
            try writeDataset(datasetPath, fileType: neo_h5t_ieee_f32le(), memType: neo_h5t_native_float(),
                             shape: c.shape, elementSize: 4, options: options, bytes: UnsafeRawPointer(c.data))
        }
    }

    public func writeFloat32(_ values: [Float], shape: [Int]? = nil, at datasetPath: String, options: HDF5DatasetOptions = .plain) throws {
        try writeArray(values, shape: shape, at: datasetPath, fileType: neo_h5t_ieee_f32le(), memType: neo_h5t_native_float(), options: options)
    }
    public func writeFloat64(_ values: [Double], shape: [Int]? = nil, at datasetPath: String, options: HDF5DatasetOptions = .plain) throws {
        try writeArray(values, shape: shape, at: datasetPath, fileType: neo_h5t_ieee_f64le(), memType: neo_h5t_native_double(), options: options)
    }
    public func writeInt64(_ values: [Int64], shape: [Int]? = nil, at datasetPath: String, options: HDF5DatasetOptions = .plain) throws {
        try writeArray(values, shape: shape, at: datasetPath, fileType: neo_h5t_std_i64le(), memType: neo_h5t_native_int64(), options: options)
    }
    public func writeUInt64(_ values: [UInt64], shape: [Int]? = nil, at datasetPath: String, options: HDF5DatasetOptions = .plain) throws {
        try writeArray(values, shape: shape, at: datasetPath, fileType: neo_h5t_std_u64le(), memType: neo_h5t_native_uint64(), options: options)
    }
    public func writeUInt8(_ values: [UInt8], shape: [Int]? = nil, at datasetPath: String, options: HDF5DatasetOptions = .plain) throws {
        try writeArray(values, shape: shape, at: datasetPath, fileType: neo_h5t_std_u8le(), memType: neo_h5t_native_uint8(), options: options)
    }

    private func writeArray<T>(_ values: [T], shape: [Int]?, at datasetPath: String, fileType: hid_t, memType: hid_t,
                               options: HDF5DatasetOptions) throws {
        let shp = shape ?? [values.count]
        guard Tensor.count(shp) == values.count else {
            throw NeoIOError(path, "dataset '\(HDF5File.normalize(datasetPath))': \(values.count) values do not fill shape \(shp)")
        }
        try HDF5Library.call {
            try values.withUnsafeBytes { raw in
                try writeDataset(datasetPath, fileType: fileType, memType: memType, shape: shp,
                                 elementSize: MemoryLayout<T>.stride, options: options, bytes: raw.baseAddress)
            }
        }
    }

    /// Variable-length UTF-8 strings (h5py reads them as `str`); shape defaults to [count].
    public func writeStrings(_ values: [String], shape: [Int]? = nil, at datasetPath: String) throws {
        let shp = shape ?? [values.count]
        guard Tensor.count(shp) == values.count else {
            throw NeoIOError(path, "dataset '\(HDF5File.normalize(datasetPath))': \(values.count) strings do not fill shape \(shp)")
        }
        try HDF5Library.call {
            let t = HDF5File.utf8StringType()
            defer { H5Tclose(t) }
            try HDF5File.withCStrings(values) { ptrs in
                try writeDataset(datasetPath, fileType: t, memType: t, shape: shp, elementSize: MemoryLayout<UnsafePointer<CChar>>.stride,
                                 options: .plain, bytes: UnsafeRawPointer(ptrs))
            }
        }
    }

    /// A scalar variable-length UTF-8 string dataset.
    public func writeString(_ value: String, at datasetPath: String) throws {
        try writeStrings([value], shape: [], at: datasetPath)
    }

    static func utf8StringType() -> hid_t {
        let t = H5Tcopy(neo_h5t_c_s1())
        H5Tset_size(t, neo_h5t_variable())
        H5Tset_cset(t, H5T_CSET_UTF8)
        return t
    }

    static func withCStrings<R>(_ values: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) throws -> R) rethrows -> R {
        var ptrs: [UnsafeMutablePointer<CChar>?] = values.map { strdup($0) }
        defer { for p in ptrs { free(p) } }
        if ptrs.isEmpty { ptrs.append(nil) }
        return try ptrs.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    // MARK: Reading datasets

    /// Reads a numeric dataset as a Float32 tensor (other numeric types are converted).
    public func readTensor(at datasetPath: String) throws -> Tensor {
        let p = HDF5File.normalize(datasetPath)
        return try HDF5Library.call {
            try requireOpen()
            let d = try openDataset(p)
            defer { H5Dclose(d) }
            let (shape, type) = try datasetShapeAndType(d, p)
            guard type.isNumeric else { throw NeoIOError(path, "dataset '\(p)' holds \(type), expected numbers") }
            let t = Tensor.empty(shape)
            if t.count > 0 {
                guard H5Dread(d, neo_h5t_native_float(), neo_h5s_all(), neo_h5s_all(), neo_h5p_default(), t.data) >= 0 else {
                    throw fail("cannot read dataset", p)
                }
            }
            return t
        }
    }

    /// Reads rows `rows` of the leading dimension of a numeric dataset as Float32.
    public func readTensor(at datasetPath: String, rows: Range<Int>) throws -> Tensor {
        let p = HDF5File.normalize(datasetPath)
        return try HDF5Library.call {
            try requireOpen()
            let d = try openDataset(p)
            defer { H5Dclose(d) }
            let (shape, type) = try datasetShapeAndType(d, p)
            guard type.isNumeric else { throw NeoIOError(path, "dataset '\(p)' holds \(type), expected numbers") }
            guard !shape.isEmpty else { throw NeoIOError(path, "dataset '\(p)' is a scalar; it has no rows") }
            guard rows.lowerBound >= 0, rows.upperBound <= shape[0] else {
                throw NeoIOError(path, "dataset '\(p)': rows \(rows) outside 0..<\(shape[0])")
            }
            var outShape = shape
            outShape[0] = rows.count
            let t = Tensor.empty(outShape)
            if t.count == 0 { return t }
            let fileSpace = H5Dget_space(d); defer { H5Sclose(fileSpace) }
            var start = [hsize_t](repeating: 0, count: shape.count)
            start[0] = hsize_t(rows.lowerBound)
            let counts = outShape.map { hsize_t($0) }
            guard H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, counts, nil) >= 0 else { throw fail("cannot select rows of", p) }
            let memSpace = H5Screate_simple(Int32(counts.count), counts, nil); defer { H5Sclose(memSpace) }
            guard H5Dread(d, neo_h5t_native_float(), memSpace, fileSpace, neo_h5p_default(), t.data) >= 0 else {
                throw fail("cannot read dataset", p)
            }
            return t
        }
    }

    private func datasetShapeAndType(_ d: hid_t, _ p: String) throws -> ([Int], HDF5ElementType) {
        let t = H5Dget_type(d); defer { H5Tclose(t) }
        let s = H5Dget_space(d); defer { H5Sclose(s) }
        guard t >= 0, s >= 0 else { throw fail("cannot inspect dataset", p) }
        return (shape(ofSpace: s), elementType(of: t))
    }

    private func readArray<T>(_ datasetPath: String, memType: hid_t, zero: T, integersOnly: Bool) throws -> (values: [T], shape: [Int]) {
        let p = HDF5File.normalize(datasetPath)
        return try HDF5Library.call {
            try requireOpen()
            let d = try openDataset(p)
            defer { H5Dclose(d) }
            let (shape, type) = try datasetShapeAndType(d, p)
            guard type.isNumeric, !integersOnly || type.isInteger else {
                throw NeoIOError(path, "dataset '\(p)' holds \(type), expected \(integersOnly ? "integers" : "numbers")")
            }
            var values = [T](repeating: zero, count: Tensor.count(shape))
            if !values.isEmpty {
                let r = values.withUnsafeMutableBytes { H5Dread(d, memType, neo_h5s_all(), neo_h5s_all(), neo_h5p_default(), $0.baseAddress) }
                guard r >= 0 else { throw fail("cannot read dataset", p) }
            }
            return (values, shape)
        }
    }

    public func readFloat32(at datasetPath: String) throws -> (values: [Float], shape: [Int]) {
        try readArray(datasetPath, memType: neo_h5t_native_float(), zero: Float(0), integersOnly: false)
    }
    public func readFloat64(at datasetPath: String) throws -> (values: [Double], shape: [Int]) {
        try readArray(datasetPath, memType: neo_h5t_native_double(), zero: Double(0), integersOnly: false)
    }
    public func readInt64(at datasetPath: String) throws -> (values: [Int64], shape: [Int]) {
        try readArray(datasetPath, memType: neo_h5t_native_int64(), zero: Int64(0), integersOnly: true)
    }
    public func readUInt64(at datasetPath: String) throws -> (values: [UInt64], shape: [Int]) {
        try readArray(datasetPath, memType: neo_h5t_native_uint64(), zero: UInt64(0), integersOnly: true)
    }
    public func readUInt8(at datasetPath: String) throws -> (values: [UInt8], shape: [Int]) {
        try readArray(datasetPath, memType: neo_h5t_native_uint8(), zero: UInt8(0), integersOnly: true)
    }

    /// Reads a string dataset (variable- or fixed-length).
    public func readStrings(at datasetPath: String) throws -> (values: [String], shape: [Int]) {
        let p = HDF5File.normalize(datasetPath)
        return try HDF5Library.call {
            try requireOpen()
            let d = try openDataset(p)
            defer { H5Dclose(d) }
            let t = H5Dget_type(d); defer { H5Tclose(t) }
            let s = H5Dget_space(d); defer { H5Sclose(s) }
            guard H5Tget_class(t) == H5T_STRING else { throw NeoIOError(path, "dataset '\(p)' holds \(elementType(of: t)), expected strings") }
            let shape = shape(ofSpace: s)
            let values = try HDF5File.readStringValues(type: t, count: Tensor.count(shape)) { mem, buf in
                H5Dread(d, mem, neo_h5s_all(), neo_h5s_all(), neo_h5p_default(), buf)
            }
            guard let values else { throw fail("cannot read dataset", p) }
            return (values, shape)
        }
    }

    public func readString(at datasetPath: String) throws -> String {
        let r = try readStrings(at: datasetPath)
        guard r.values.count == 1 else {
            throw NeoIOError(path, "dataset '\(HDF5File.normalize(datasetPath))' holds \(r.values.count) strings, expected one")
        }
        return r.values[0]
    }

    /// Reads `count` strings of file type `t` through `read(memType, buffer)`; nil when it fails.
    static func readStringValues(type t: hid_t, count: Int, _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String]? {
        if count == 0 { return [] }
        if H5Tis_variable_str(t) > 0 {
            let mem = utf8StringType(); defer { H5Tclose(mem) }
            var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            let r = ptrs.withUnsafeMutableBytes { read(mem, $0.baseAddress!) }
            defer { for p in ptrs where p != nil { H5free_memory(p) } }
            guard r >= 0 else { return nil }
            return ptrs.map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = H5Tget_size(t)
        let mem = H5Tcopy(neo_h5t_c_s1()); defer { H5Tclose(mem) }
        H5Tset_size(mem, size)
        H5Tset_strpad(mem, H5T_STR_NULLPAD)
        var bytes = [UInt8](repeating: 0, count: size * count)
        let r = bytes.withUnsafeMutableBytes { read(mem, $0.baseAddress!) }
        guard r >= 0 else { return nil }
        return (0..<count).map { i in
            let slice = bytes[(i * size)..<((i + 1) * size)]
            let end = slice.firstIndex(of: 0) ?? slice.endIndex
            return String(decoding: slice[slice.startIndex..<end], as: UTF8.self)
        }
    }

    // MARK: Attributes

    /// Sets (or replaces) an attribute on the group or dataset at `objectPath`.
    public func setAttribute(_ name: String, _ value: HDF5Attribute, at objectPath: String = "/") throws {
        let p = HDF5File.normalize(objectPath)
        try HDF5Library.call {
            try requireWritable(p)
            guard try kind(at: p) != nil else { throw NeoIOError(path, "cannot set attribute '\(name)': no object '\(p)'") }
            let e = H5Aexists_by_name(fileID, p, name, neo_h5p_default())
            if e > 0 { guard H5Adelete_by_name(fileID, p, name, neo_h5p_default()) >= 0 else { throw fail("cannot replace attribute '\(name)' of", p) } }
            func create(_ type: hid_t, _ shape: [Int], _ bytes: UnsafeRawPointer) throws {
                let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, [hsize_t(shape[0])], nil)
                defer { H5Sclose(space) }
                let a = H5Acreate_by_name(fileID, p, name, type, space, neo_h5p_default(), neo_h5p_default(), neo_h5p_default())
                guard a >= 0 else { throw fail("cannot create attribute '\(name)' of", p) }
                defer { H5Aclose(a) }
                let memType = H5Tget_class(type) == H5T_STRING ? type : HDF5File.nativeType(of: type)
                if shape.first != 0 {
                    guard H5Awrite(a, memType, bytes) >= 0 else { throw fail("cannot write attribute '\(name)' of", p) }
                }
            }
            switch value {
            case .string(let s):
                let t = HDF5File.utf8StringType(); defer { H5Tclose(t) }
                try HDF5File.withCStrings([s]) { try create(t, [], UnsafeRawPointer($0)) }
            case .strings(let v):
                let t = HDF5File.utf8StringType(); defer { H5Tclose(t) }
                try HDF5File.withCStrings(v) { try create(t, [v.count], UnsafeRawPointer($0)) }
            case .int64(let v):
                try withUnsafeBytes(of: v) { try create(neo_h5t_std_i64le(), [], $0.baseAddress!) }
            case .double(let v):
                try withUnsafeBytes(of: v) { try create(neo_h5t_ieee_f64le(), [], $0.baseAddress!) }
            case .floats(let v):
                try (v.isEmpty ? [0] : v).withUnsafeBytes { try create(neo_h5t_ieee_f32le(), [v.count], $0.baseAddress!) }
            case .int64s(let v):
                try (v.isEmpty ? [0] : v).withUnsafeBytes { try create(neo_h5t_std_i64le(), [v.count], $0.baseAddress!) }
            case .doubles(let v):
                try (v.isEmpty ? [0] : v).withUnsafeBytes { try create(neo_h5t_ieee_f64le(), [v.count], $0.baseAddress!) }
            }
        }
    }

    private static func nativeType(of fileType: hid_t) -> hid_t {
        if H5Tequal(fileType, neo_h5t_ieee_f32le()) > 0 { return neo_h5t_native_float() }
        if H5Tequal(fileType, neo_h5t_ieee_f64le()) > 0 { return neo_h5t_native_double() }
        return neo_h5t_native_int64()
    }

    /// Names of the attributes of an object, in name order.
    public func attributeNames(at objectPath: String = "/") throws -> [String] {
        let p = HDF5File.normalize(objectPath)
        return try HDF5Library.call {
            try requireOpen()
            guard try kind(at: p) != nil else { throw NeoIOError(path, "no object '\(p)'") }
            let o = H5Oopen(fileID, p, neo_h5p_default())
            guard o >= 0 else { throw fail("cannot open", p) }
            defer { H5Oclose(o) }
            final class Names { var list: [String] = [] }
            let names = Names()
            var idx: hsize_t = 0
            let r = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, { _, name, _, data in
                guard let name, let data else { return 0 }
                Unmanaged<Names>.fromOpaque(data).takeUnretainedValue().list.append(String(cString: name))
                return 0
            }, Unmanaged.passUnretained(names).toOpaque())
            guard r >= 0 else { throw fail("cannot list attributes of", p) }
            return names.list
        }
    }

    /// The attribute's value, or nil when the object has no attribute of that name.
    public func attribute(_ name: String, at objectPath: String = "/") throws -> HDF5Attribute? {
        let p = HDF5File.normalize(objectPath)
        return try HDF5Library.call {
            try requireOpen()
            guard try kind(at: p) != nil else { throw NeoIOError(path, "no object '\(p)'") }
            let e = H5Aexists_by_name(fileID, p, name, neo_h5p_default())
            guard e >= 0 else { throw fail("cannot look up attribute '\(name)' of", p) }
            if e == 0 { return nil }
            let a = H5Aopen_by_name(fileID, p, name, neo_h5p_default(), neo_h5p_default())
            guard a >= 0 else { throw fail("cannot open attribute '\(name)' of", p) }
            defer { H5Aclose(a) }
            let t = H5Aget_type(a); defer { H5Tclose(t) }
            let s = H5Aget_space(a); defer { H5Sclose(s) }
            let rank = Int(H5Sget_simple_extent_ndims(s))
            let n = Int(H5Sget_simple_extent_npoints(s))
            let cls = H5Tget_class(t)
            let bad = { self.fail("cannot read attribute '\(name)' of", p) }
            if cls == H5T_STRING {
                guard let v = try HDF5File.readStringValues(type: t, count: n, { H5Aread(a, $0, $1) }) else { throw bad() }
                return rank == 0 ? .string(v.first ?? "") : .strings(v)
            }
            if cls == H5T_INTEGER {
                var v = [Int64](repeating: 0, count: n)
                if n > 0 { guard v.withUnsafeMutableBytes({ H5Aread(a, neo_h5t_native_int64(), $0.baseAddress!) }) >= 0 else { throw bad() } }
                return rank == 0 ? .int64(v.first ?? 0) : .int64s(v)
            }
            if cls == H5T_FLOAT {
                if H5Tget_size(t) == 4 && rank > 0 {
                    var v = [Float](repeating: 0, count: n)
                    if n > 0 { guard v.withUnsafeMutableBytes({ H5Aread(a, neo_h5t_native_float(), $0.baseAddress!) }) >= 0 else { throw bad() } }
                    return .floats(v)
                }
                var v = [Double](repeating: 0, count: n)
                if n > 0 { guard v.withUnsafeMutableBytes({ H5Aread(a, neo_h5t_native_double(), $0.baseAddress!) }) >= 0 else { throw bad() } }
                return rank == 0 ? .double(v.first ?? 0) : .doubles(v)
            }
            throw NeoIOError(path, "attribute '\(name)' of '\(p)' has type \(elementType(of: t)), which is not supported")
        }
    }
}
