#include "capture_records.hpp"

#include <fmt/format.h>

#include <vector>

namespace ct::record {

namespace {

std::vector<std::uint8_t> hex_to_bytes(std::string_view hex) {
    std::vector<std::uint8_t> out;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return {};
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

}  // namespace

ctz::FieldWriter process_record(const ProcessSnapshot& p, std::string_view source) {
    using F = ctz::ProcessField;
    ctz::FieldWriter f;
    f.u64(F::Pid, static_cast<std::uint64_t>(p.pid))
        .u64(F::Ppid, static_cast<std::uint64_t>(p.ppid))
        .str(F::Exe, p.exe)
        .str_list(F::Cmdline, p.cmdline)
        .str(F::Cwd, p.cwd)
        .str(F::Comm, p.comm)
        .u64(F::Uid, p.uid)
        .str(F::Source, source)
        .u64(F::ObservedMonotonicNs, monotonic_now_ns())
        .u64(F::StartBoottimeNs, p.start_boottime_ns);
    return f;
}

ctz::FieldWriter probe_record(const AttachReport& report, const locate::Target& target,
                              const AttachedProbe& probe) {
    using F = ctz::ProbeField;
    ctz::FieldWriter f;
    f.str(F::BinaryPath, report.path)
        .bytes(F::BuildId, hex_to_bytes(report.located.build_id_hex))
        .str(F::Function, probe.function)
        .u64(F::FileOffset, target.file_offset + probe.entry_delta)
        .str(F::HowFound, report.located.how_found)
        .str(F::Kind, probe.kind)
        .u64(F::Attached, probe.attached ? 1 : 0)
        .u64(F::Device, report.located.device)
        .u64(F::Inode, report.located.inode)
        .u64(F::Pid, static_cast<std::uint64_t>(report.pid))
        .u64(F::Address, target.vaddr + probe.entry_delta)
        .str(F::Evidence, probe.entry_delta == 0
                              ? target.evidence
                              : fmt::format("{}; probe {:#x} bytes in, on the first instruction "
                                            "the kernel emulates",
                                            target.evidence, probe.entry_delta));
    if (!probe.error.empty())
        f.str(F::Error, probe.error);
    return f;
}

ctz::FieldWriter counters_record(const ct_counters& c, bool final) {
    using F = ctz::CounterField;
    ctz::FieldWriter f;
    f.u64(F::MonotonicNs, monotonic_now_ns())
        .u64(F::Events, c.events)
        .u64(F::RingFullEvents, c.ring_full_events)
        .u64(F::RingFullBytes, c.ring_full_bytes)
        .u64(F::ReadFaultEvents, c.read_fault_events)
        .u64(F::ReadFaultBytes, c.read_fault_bytes)
        .u64(F::TruncatedCalls, c.truncated_calls)
        .u64(F::TruncatedBytes, c.truncated_bytes)
        .u64(F::CallMapFull, c.call_map_full)
        .u64(F::ConnMapFull, c.conn_map_full)
        .u64(F::OrphanReturns, c.orphan_returns)
        .u64(F::DataBytes, c.data_bytes)
        .u64(F::TcpMapFull, c.tcp_map_full)
        .u64(F::Final, final ? 1 : 0);
    return f;
}

ctz::FieldWriter clock_record(const ClockSample& clock) {
    ctz::FieldWriter f;
    f.u64(ctz::ClockField::MonotonicNs, clock.monotonic_ns)
        .i64(ctz::ClockField::RealtimeNs, clock.realtime_ns);
    return f;
}

ctz::FieldWriter note_record(std::string_view level, std::string_view message) {
    ctz::FieldWriter f;
    f.str(ctz::NoteField::Level, level)
        .str(ctz::NoteField::Message, message)
        .u64(ctz::NoteField::MonotonicNs, monotonic_now_ns());
    return f;
}

}  // namespace ct::record
