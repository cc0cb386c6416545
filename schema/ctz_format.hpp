// The .ctz capture file format, version 1. The spec with field tables is
// schema/capture-format.md; this header is its machine twin. Grammar
// (all integers little-endian):
//
//   file          := header_frame { data_frame | skippable_frame } [ trailer_frame ]
//   header_frame  := skippable(tag "CTZH", major u16, minor u16, fields)
//   trailer_frame := skippable(tag "CTZT", major u16, minor u16, fields)
//   skippable(x)  := magic u32 (0x184D2A5C) | size u32 | x[size]
//   data_frame    := a segment: one zstd frame (with checksum) that decompresses
//                    to { unit }; its first unit holds FRAME_BEGIN alone
//   unit          := { record } SYNC-record   (flushed into the zstd stream as a
//                    whole, so a unit on disk decodes without the frame's end, given
//                    the units before it in its segment)
//   record        := length u32 | type u16 | reserved u16 (0) | body[length]
//   body          := raw BPF event (type EVENT, see bpf/ct_abi.h) | fields
//   fields        := { id u16 | kind u16 | length u32 | value[length] }
//
// Frames are independent, so a reader resynchronises after damage at the next
// frame magic. Fields are only ever appended: readers skip unknown record
// types and field ids, and the major version changes only on a break.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ct::ctz {

inline constexpr std::uint16_t kFormatMajor = 1;
inline constexpr std::uint16_t kFormatMinor = 6;  // 1.1: TCP events, accept sockets; 1.2: trailer
                                                  // lost_events = last_seq - events; 1.3: hold;
                                                  // 1.4: GnuTLS func values; 1.5: Go's;
                                                  // 1.6: --watch series (first_seq, rotation),
                                                  // SOCKET origins 7 and 8, no more 3 and 4

inline constexpr std::uint32_t kZstdFrameMagic = 0xFD2FB528;
inline constexpr std::uint32_t kSkippableMagic = 0x184D2A5C;  // one of zstd's 0x184D2A5?
inline constexpr std::uint32_t kSkippableMagicMask = 0xFFFFFFF0;
inline constexpr std::uint32_t kSkippableMagicBase = 0x184D2A50;
inline constexpr std::uint32_t kTagHeader = 0x485A5443;   // "CTZH"
inline constexpr std::uint32_t kTagTrailer = 0x545A5443;  // "CTZT"

inline constexpr std::size_t kRecordHeaderSize = 8;
inline constexpr std::size_t kFieldHeaderSize = 8;
// Not a limit on a segment (segments hold up to 256 MiB and a unit more): the most
// decompressed bytes a reader holds before a SYNC record vouches for them (more is
// damage), and the output past which a segment that expands over 2000-fold is given
// up as implausible. Writers keep units at a quarter of it.
inline constexpr std::size_t kFrameContentLimit = 64u << 20;
inline constexpr std::size_t kSkippableContentLimit = 16u << 20;
inline constexpr std::size_t kRecordLimit = 16u << 20;

enum class RecordType : std::uint16_t {
    FrameBegin = 1,  // fields: FrameField
    Event = 2,       // raw BPF event bytes
    Process = 3,     // fields: ProcessField
    Probe = 4,       // fields: ProbeField
    Counters = 5,    // fields: CounterField
    Clock = 6,       // fields: ClockField
    Note = 7,        // fields: NoteField
    Sync = 8,        // fields: SyncField; ends a unit
};

enum class FieldKind : std::uint16_t {
    U64 = 1,         // 8 bytes
    I64 = 2,         // 8 bytes, two's complement
    String = 3,      // UTF-8 (not validated), no terminator
    Bytes = 4,       // opaque
    StringList = 5,  // each element followed by one NUL
};

enum class HeaderField : std::uint16_t {
    AbiVersion = 1,
    RecorderVersion = 2,
    CaptureUuid = 3,
    Hostname = 4,
    KernelRelease = 5,
    KernelVersion = 6,
    Machine = 7,
    RealtimeMinusMonotonicNs = 8,
    StartRealtimeNs = 9,
    StartMonotonicNs = 10,
    RecorderCmdline = 11,
    TargetCmdline = 12,
    TargetPid = 13,
    RecorderPid = 14,
    RingBufferBytes = 15,
    PayloadCapBytes = 16,
    BootId = 17,
    FlushIntervalMs = 18,  // units are closed at least this often
    UnitMaxBytes = 19,
    ZstdLevel = 20,
    SegmentMaxBytes = 21,
    SegmentIntervalMs = 22,
    WindowLog = 23,
    // 1.6, ct-record --watch: one file of a series of rotated captures.
    FirstSeq = 24,             // sequence numbers below it belong to earlier files
    SeriesUuid = 25,           // bytes(16): the same in every file of one recorder run
    SeriesIndex = 26,          // 0, 1, 2, ... within the series
    PreviousCaptureUuid = 27,  // bytes(16): the file this one continues
    WatchRules = 28,           // string list: "name=claude", "exe=/usr/bin/node", ...
};

enum class TrailerField : std::uint16_t {
    EndReason = 1,
    EndRealtimeNs = 2,
    EndMonotonicNs = 3,
    Frames = 4,
    Records = 5,  // records written, FRAME_BEGIN and SYNC records not counted
    Events = 6,
    DataBytes = 7,
    LostEvents = 8,  // since 1.2: last_seq - events (before: ring reservations that failed)
    LostBytes = 9,
    ExitStatus = 10,
    LastSeq = 11,  // a count: events carry sequence numbers 0 <= seq < last_seq
};

enum class FrameField : std::uint16_t {
    Index = 1,
    MonotonicNs = 2,
    ZstdLevel = 3,  // level this segment was compressed at
};

enum class ProcessField : std::uint16_t {
    Pid = 1,
    Ppid = 2,
    Exe = 3,
    Cmdline = 4,
    Cwd = 5,
    StartMonotonicNs = 6,
    Comm = 7,
    Uid = 8,
    Source = 9,  // "scan", "fork", "exec", "command"
    ObservedMonotonicNs = 10,
    StartBoottimeNs = 11,  // from /proc/PID/stat (CLOCK_BOOTTIME based)
};

enum class ProbeField : std::uint16_t {
    BinaryPath = 1,
    BuildId = 2,
    Function = 3,
    FileOffset = 4,
    HowFound = 5,  // "dynsym", "symtab", "locator: ..."
    Kind = 6,      // "entry" or "return"
    Attached = 7,  // 1 or 0
    Error = 8,
    Device = 9,
    Inode = 10,
    Pid = 11,  // process whose mapping led to the binary (0: found before start)
    Address = 12,
    Evidence = 13,  // why the locator believes this offset is that function
};

enum class CounterField : std::uint16_t {
    MonotonicNs = 1,
    Events = 2,
    RingFullEvents = 3,
    RingFullBytes = 4,
    ReadFaultEvents = 5,
    ReadFaultBytes = 6,
    TruncatedCalls = 7,
    TruncatedBytes = 8,
    CallMapFull = 9,
    ConnMapFull = 10,
    OrphanReturns = 11,
    DataBytes = 12,
    Final = 13,  // 1 on the last snapshot of a capture
    TcpMapFull = 14,  // TCP connections whose totals could not be tracked
};

enum class SyncField : std::uint16_t {
    Checksum = 1,  // XXH3-64 of the unit's record bytes before this record
    Records = 2,  // records in the unit before this one
    MonotonicNs = 3,
};

enum class ClockField : std::uint16_t {
    MonotonicNs = 1,
    RealtimeNs = 2,
};

enum class NoteField : std::uint16_t {
    Level = 1,  // "info", "warning", "error"
    Message = 2,
    MonotonicNs = 3,
};

// ---- little-endian primitives ---------------------------------------------------------------

inline void put_u16(std::vector<std::uint8_t>& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
}
inline void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
inline void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
inline std::uint16_t get_u16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t get_u32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
inline std::uint64_t get_u64(const std::uint8_t* p) {
    return static_cast<std::uint64_t>(get_u32(p)) |
           (static_cast<std::uint64_t>(get_u32(p + 4)) << 32);
}

// ---- fields -------------------------------------------------------------------------------------

// Builds a `fields` body. Ids are typed enums so a field cannot land in the wrong record.
class FieldWriter {
  public:
    template <typename Id>
    FieldWriter& u64(Id id, std::uint64_t v) {
        begin(id, FieldKind::U64, 8);
        put_u64(out_, v);
        return *this;
    }
    template <typename Id>
    FieldWriter& i64(Id id, std::int64_t v) {
        begin(id, FieldKind::I64, 8);
        put_u64(out_, static_cast<std::uint64_t>(v));
        return *this;
    }
    template <typename Id>
    FieldWriter& str(Id id, std::string_view v) {
        begin(id, FieldKind::String, v.size());
        out_.insert(out_.end(), v.begin(), v.end());
        return *this;
    }
    template <typename Id>
    FieldWriter& bytes(Id id, std::span<const std::uint8_t> v) {
        begin(id, FieldKind::Bytes, v.size());
        out_.insert(out_.end(), v.begin(), v.end());
        return *this;
    }
    template <typename Id>
    FieldWriter& str_list(Id id, const std::vector<std::string>& v) {
        std::size_t len = 0;
        for (const auto& s : v)
            len += s.size() + 1;
        begin(id, FieldKind::StringList, len);
        for (const auto& s : v) {
            out_.insert(out_.end(), s.begin(), s.end());
            out_.push_back(0);
        }
        return *this;
    }
    const std::vector<std::uint8_t>& bytes() const { return out_; }
    std::vector<std::uint8_t> take() { return std::move(out_); }

  private:
    template <typename Id>
    void begin(Id id, FieldKind kind, std::size_t len) {
        put_u16(out_, static_cast<std::uint16_t>(id));
        put_u16(out_, static_cast<std::uint16_t>(kind));
        put_u32(out_, static_cast<std::uint32_t>(len));
    }
    std::vector<std::uint8_t> out_;
};

struct Field {
    std::uint16_t id = 0;
    FieldKind kind = FieldKind::Bytes;
    std::span<const std::uint8_t> value;

    std::optional<std::uint64_t> as_u64() const {
        if ((kind != FieldKind::U64 && kind != FieldKind::I64) || value.size() != 8) {
            return std::nullopt;
        }
        return get_u64(value.data());
    }
    std::optional<std::int64_t> as_i64() const {
        auto v = as_u64();
        if (!v)
            return std::nullopt;
        return static_cast<std::int64_t>(*v);
    }
    std::string as_string() const { return {value.begin(), value.end()}; }
    std::vector<std::string> as_string_list() const {
        std::vector<std::string> out;
        std::size_t start = 0;
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (value[i] == 0) {
                out.emplace_back(value.begin() + static_cast<std::ptrdiff_t>(start),
                                 value.begin() + static_cast<std::ptrdiff_t>(i));
                start = i + 1;
            }
        }
        if (start < value.size()) {  // tolerate a missing final NUL
            out.emplace_back(value.begin() + static_cast<std::ptrdiff_t>(start), value.end());
        }
        return out;
    }
};

// Parses a `fields` body; on malformed input returns the fields before the damage
// and sets `damaged`.
struct ParsedFields {
    std::vector<Field> fields;
    bool damaged = false;

    template <typename Id>
    const Field* find(Id id) const {
        for (const auto& f : fields) {
            if (f.id == static_cast<std::uint16_t>(id))
                return &f;
        }
        return nullptr;
    }
    template <typename Id>
    std::optional<std::uint64_t> u64(Id id) const {
        const Field* f = find(id);
        return f ? f->as_u64() : std::nullopt;
    }
    template <typename Id>
    std::optional<std::int64_t> i64(Id id) const {
        const Field* f = find(id);
        return f ? f->as_i64() : std::nullopt;
    }
    template <typename Id>
    std::string str(Id id) const {
        const Field* f = find(id);
        return f ? f->as_string() : std::string{};
    }
    template <typename Id>
    std::vector<std::string> str_list(Id id) const {
        const Field* f = find(id);
        return f ? f->as_string_list() : std::vector<std::string>{};
    }
};

inline ParsedFields parse_fields(std::span<const std::uint8_t> body) {
    ParsedFields out;
    std::size_t pos = 0;
    while (pos < body.size()) {
        if (body.size() - pos < kFieldHeaderSize) {
            out.damaged = true;
            break;
        }
        const std::uint8_t* p = body.data() + pos;
        std::uint32_t len = get_u32(p + 4);
        if (len > body.size() - pos - kFieldHeaderSize) {
            out.damaged = true;
            break;
        }
        out.fields.push_back(Field{get_u16(p), static_cast<FieldKind>(get_u16(p + 2)),
                                   body.subspan(pos + kFieldHeaderSize, len)});
        pos += kFieldHeaderSize + len;
    }
    return out;
}

// Appends one record (header and body) to `out`.
inline void put_record(std::vector<std::uint8_t>& out, RecordType type,
                       std::span<const std::uint8_t> body) {
    put_u32(out, static_cast<std::uint32_t>(body.size()));
    put_u16(out, static_cast<std::uint16_t>(type));
    put_u16(out, 0);
    out.insert(out.end(), body.begin(), body.end());
}

inline bool is_skippable_magic(std::uint32_t magic) {
    return (magic & kSkippableMagicMask) == kSkippableMagicBase;
}

}  // namespace ct::ctz
