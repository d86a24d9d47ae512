"""The CUDA build's fatbinary (Makefile: CUDA_ARCHS, CUDA_PTX; docs/gpu.md): every CUDA file of the library carries
machine code for each architecture docs/gpu.md promises and PTX of the newest, so that one build runs on every
recent NVIDIA GPU. The library's .nv_fatbin section is read directly (its entries name their kind, architecture
and source file), each machine-code image is cross-checked by its own ELF header, and, where the CUDA toolkit
has cuobjdump, by `cuobjdump --list-elf` / `--list-ptx` too. Skips when the build has no CUDA."""
import glob
import os
import re
import shutil
import struct

import common

# docs/gpu.md, "Supported GPUs": Ampere, Ada, Hopper, Blackwell machine code; PTX of the newest for later GPUs.
PROMISED_SASS = {80, 86, 89, 90, 100, 103, 120}
PROMISED_PTX = {120}

FATBIN_MAGIC = 0xBA55ED50
KIND_PTX, KIND_ELF = 1, 2


def _library():
    path = os.path.join(common.BUILD, "libuserec.so")
    if not os.path.exists(path):
        raise AssertionError(f"{path} is not built (make lib)")
    with open(path, "rb") as f:
        return path, f.read()


def _elf_section(data, wanted):
    """The bytes of section `wanted` of a little-endian ELF64 file, or None."""
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a little-endian ELF64 file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):
        name, _, _, _, offset, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        return name, offset, size

    _, names_at, _ = header(shstrndx)
    for i in range(shnum):
        name, offset, size = header(i)
        end = data.index(b"\0", names_at + name)
        if data[names_at + name:end].decode() == wanted:
            return data[offset:offset + size]
    return None


def _fatbin_entries(section):
    """(source file, kind, sm) of every image in the section's fatbinaries, and the ELF e_flags' sm of each
    uncompressed machine-code image (None where compressed)."""
    entries, at = [], 0
    while at + 16 <= len(section):
        magic, _, header_size, size = struct.unpack_from("<IHHQ", section, at)
        if magic != FATBIN_MAGIC:  # fatbinaries are 8-byte aligned in the section
            at += 8
            continue
        entry, end = at + header_size, at + header_size + size
        while entry < end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", section, entry)
            arch, name_at, name_len = struct.unpack_from("<III", section, entry + 28)
            name = section[entry + name_at:entry + name_at + name_len].split(b"\0")[0].decode()
            body = section[entry + entry_header:entry + entry_header + payload]
            elf_sm = None
            if kind == KIND_ELF and body[:4] == b"\x7fELF":
                elf_sm = (struct.unpack_from("<I", body, 0x30)[0] >> 8) & 0xFF
            entries.append((name, kind, arch, elf_sm))
            entry += entry_header + payload
        at = end
    return entries


def _cuda_sources():
    return sorted(os.path.relpath(p, common.ROOT) for p in glob.glob(os.path.join(common.ROOT, "kernels", "*.cu")) +
                  glob.glob(os.path.join(common.ROOT, "engine", "*", "*.cu")))


def _fatbin_or_skip():
    path, data = _library()
    section = _elf_section(data, ".nv_fatbin")
    if section is None:
        devices = common.run([common.BIN, "devices"]).stdout
        if "built without CUDA" in devices:
            raise common.Skip("this build has no CUDA (no nvcc at build time, or make CUDA=0)")
        raise AssertionError(f"{path} has no .nv_fatbin section, yet `userec devices` does not say the build lacks "
                             f"CUDA:\n{devices}")
    return path, _fatbin_entries(section)


@common.quick
def test_every_cuda_file_carries_every_promised_architecture():
    path, entries = _fatbin_or_skip()
    by_file = {}
    for name, kind, arch, elf_sm in entries:
        by_file.setdefault(name, {KIND_ELF: set(), KIND_PTX: set()})[kind].add(arch)
        assert elf_sm is None or elf_sm == arch, \
            f"{name}: a machine-code image listed as sm_{arch} says sm_{elf_sm} in its own ELF header"
    missing = [src for src in _cuda_sources() if not any(name.endswith(src) for name in by_file)]
    assert not missing, f"{path} holds no device code of {missing} (fatbinaries of {sorted(by_file)})"
    for name, kinds in sorted(by_file.items()):
        print(f"{name}: machine code {sorted(kinds[KIND_ELF])}, PTX {sorted(kinds[KIND_PTX])}")
        assert kinds[KIND_ELF] >= PROMISED_SASS, \
            (f"{name} lacks machine code for sm_{sorted(PROMISED_SASS - kinds[KIND_ELF])} (has "
             f"{sorted(kinds[KIND_ELF])}): was the library built with a narrower CUDA_ARCHS?")
        assert kinds[KIND_PTX] >= PROMISED_PTX, \
            f"{name} lacks PTX for compute_{sorted(PROMISED_PTX - kinds[KIND_PTX])} (has {sorted(kinds[KIND_PTX])})"
    assert sum(1 for e in entries if e[3] is not None) > 0, "no machine-code image could be cross-checked by its ELF header"


def test_cuobjdump_agrees():
    """The same lists as the CUDA toolkit's own reader gives, where the toolkit has it (device machines do)."""
    cuobjdump = shutil.which("cuobjdump") or shutil.which("/usr/local/cuda/bin/cuobjdump")
    path, entries = _fatbin_or_skip()
    if not cuobjdump:
        raise common.Skip("cuobjdump is not installed (the CUDA toolkit here has nvcc only)")
    listed = {}
    for option, kind, pattern in (("--list-elf", KIND_ELF, r"\.sm_(\d+)\w*\.cubin"), ("--list-ptx", KIND_PTX, r"\.sm_(\d+)\w*\.ptx")):
        out = common.run([cuobjdump, option, path]).stdout
        listed[kind] = {int(m) for m in re.findall(pattern, out)}
    ours = {kind: {arch for _, k, arch, _ in entries if k == kind} for kind in (KIND_ELF, KIND_PTX)}
    assert listed == ours, f"cuobjdump lists {listed}, the fatbinary reader {ours}"
