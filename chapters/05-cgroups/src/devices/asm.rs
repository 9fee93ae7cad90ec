//! A small eBPF assembler: the seven instructions a device filter needs, encoded as the
//! kernel reads them.
//!
//! cgroup v2 has no `devices.allow` file. Instead, a program in the kernel's eBPF
//! instruction set is attached to the cgroup and asked about every device access. runc
//! writes that program with an assembler (cilium/ebpf's `asm` package), not with C and clang,
//! and so do we, for the same reasons: the program is a few dozen instructions of five kinds,
//! generated from data at each start, so a compiler toolchain (what `aya` or `libbpf-rs`
//! build on) would be all cost; and the encoding is small enough to read, which is the
//! point of this chapter. An instruction is 8 bytes (`struct bpf_insn`): an opcode, the
//! destination and source registers in one byte, a 16-bit jump offset, a 32-bit immediate.

use std::fmt;

/// An eBPF register. `r1` holds the program's argument, `r0` its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Reg {
    R0 = 0,
    R1 = 1,
    R2 = 2,
    R3 = 3,
    R4 = 4,
    R5 = 5,
}

/// One instruction, laid out as the kernel's `struct bpf_insn`, so a `&[Insn]` is what
/// `bpf(BPF_PROG_LOAD)` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    /// Class, operation and source (`BPF_ALU | BPF_MOV | BPF_K`).
    pub code: u8,
    /// Destination register in the low 4 bits, source register in the high 4.
    pub regs: u8,
    /// A jump's distance, in instructions after the next one; a load's offset.
    pub off: i16,
    /// The immediate operand.
    pub imm: i32,
}

// ANCHOR: opcodes
// Opcodes: an instruction class (low 3 bits), an operation, and K (immediate) or X (register).
const BPF_LDX_MEM_W: u8 = 0x61; // LDX | MEM | W: dst = *(u32 *)(src + off)
const BPF_ALU_AND_K: u8 = 0x54; // ALU | AND | K: dst &= imm (32-bit)
const BPF_ALU_RSH_K: u8 = 0x74; // ALU | RSH | K: dst >>= imm (32-bit)
const BPF_ALU_MOV_K: u8 = 0xb4; // ALU | MOV | K: dst = imm (32-bit)
const BPF_ALU_MOV_X: u8 = 0xbc; // ALU | MOV | X: dst = src (32-bit)
const BPF_JMP_JNE_K: u8 = 0x55; // JMP | JNE | K: if dst != imm, skip `off` instructions
const BPF_JMP_EXIT: u8 = 0x95; // JMP | EXIT: return r0
// ANCHOR_END: opcodes

impl Insn {
    const fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (src as u8) << 4 | dst as u8,
            off,
            imm,
        }
    }

    /// `dst = *(u32 *)(src + off)`.
    pub const fn load32(dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(BPF_LDX_MEM_W, dst, src, off, 0)
    }

    /// `dst &= imm`.
    pub const fn and32(dst: Reg, imm: i32) -> Insn {
        Insn::new(BPF_ALU_AND_K, dst, Reg::R0, 0, imm)
    }

    /// `dst >>= imm`.
    pub const fn rsh32(dst: Reg, imm: i32) -> Insn {
        Insn::new(BPF_ALU_RSH_K, dst, Reg::R0, 0, imm)
    }

    /// `dst = imm`.
    pub const fn mov32_imm(dst: Reg, imm: i32) -> Insn {
        Insn::new(BPF_ALU_MOV_K, dst, Reg::R0, 0, imm)
    }

    /// `dst = src`.
    pub const fn mov32(dst: Reg, src: Reg) -> Insn {
        Insn::new(BPF_ALU_MOV_X, dst, src, 0, 0)
    }

    /// `if dst != imm goto +off`.
    pub const fn jne(dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::new(BPF_JMP_JNE_K, dst, Reg::R0, off, imm)
    }

    /// `exit`: the program returns `r0`.
    pub const fn exit() -> Insn {
        Insn::new(BPF_JMP_EXIT, Reg::R0, Reg::R0, 0, 0)
    }
}

impl fmt::Display for Insn {
    /// The instruction in the kernel verifier's notation (`r2 &= 65535`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dst, src) = (self.regs & 0xf, self.regs >> 4);
        let (imm, off) = (self.imm, self.off);
        match self.code {
            BPF_LDX_MEM_W => write!(f, "r{dst} = *(u32 *)(r{src} {off:+})"),
            BPF_ALU_AND_K => write!(f, "w{dst} &= {imm:#x}"),
            BPF_ALU_RSH_K => write!(f, "w{dst} >>= {imm}"),
            BPF_ALU_MOV_K => write!(f, "w{dst} = {imm}"),
            BPF_ALU_MOV_X => write!(f, "w{dst} = w{src}"),
            BPF_JMP_JNE_K => write!(f, "if r{dst} != {imm} goto pc{off:+}"),
            BPF_JMP_EXIT => write!(f, "exit"),
            code => write!(f, "(unknown opcode {code:#04x})"),
        }
    }
}

/// A program as text, one numbered instruction a line.
pub fn disassemble(program: &[Insn]) -> String {
    program
        .iter()
        .enumerate()
        .map(|(i, insn)| format!("{i:3}: {insn}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_encode_as_the_kernel_reads_them() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        // `r2 = *(u32 *)(r1 + 4)`: 0x61, src 1 << 4 | dst 2, off 4.
        let insn = Insn::load32(Reg::R2, Reg::R1, 4);
        assert_eq!(
            (insn.code, insn.regs, insn.off, insn.imm),
            (0x61, 0x12, 4, 0)
        );
        assert_eq!(insn.to_string(), "r2 = *(u32 *)(r1 +4)");
        assert_eq!(
            Insn::jne(Reg::R4, 136, 3).to_string(),
            "if r4 != 136 goto pc+3"
        );
        assert_eq!(Insn::exit().code, 0x95);
    }
}
