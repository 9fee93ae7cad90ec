//! The device allowlist as an eBPF program, for cgroup v2.
//!
//! A `BPF_PROG_TYPE_CGROUP_DEVICE` program runs on every `open` and `mknod` of a device node
//! by a process of its cgroup, with one argument (`r1`): a `struct bpf_cgroup_dev_ctx` of
//! three 32-bit words, the access type (the device type in the low 16 bits, 1 block or 2
//! character; the access in the high 16, 1 mknod, 2 read, 4 write), the major and the minor.
//! It returns 1 to allow, 0 to refuse (`EPERM`). runc's `devicefilter` turns the rules into
//! such a program in a fixed shape, and so does [`program`]: load the four values into
//! registers once, then one block per rule, *last rule first* (a later rule overrides an
//! earlier one, as lines written later to v1's files do), each block jumping to the next
//! when its rule does not match and returning the rule's answer when it does; the first
//! rule, `a *:* rwm` allowed or denied, is the answer when no block matched.

use crate::devices::asm::{Insn, Reg};
use crate::devices::rules::{Access, DeviceRule, DeviceType};

/// `BPF_DEVCG_DEV_BLOCK` and `BPF_DEVCG_DEV_CHAR`: the device type in the access word.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

// ANCHOR: program
/// The program for `rules` (see the module docs for its shape).
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    // The first rule sets the default if it is about everything; else, deny by default.
    let (default, rules) = match rules.split_first() {
        Some((first, rest)) if *first == DeviceRule::everything(first.allow) => (first.allow, rest),
        _ => (false, rules),
    };
    let mut program = vec![
        Insn::load32(Reg::R2, Reg::R1, 0), // r2 = the device type
        Insn::and32(Reg::R2, 0xffff),
        Insn::load32(Reg::R3, Reg::R1, 0), // r3 = the access asked for
        Insn::rsh32(Reg::R3, 16),
        Insn::load32(Reg::R4, Reg::R1, 4), // r4 = major
        Insn::load32(Reg::R5, Reg::R1, 8), // r5 = minor
    ];
    for rule in rules.iter().rev() {
        program.extend(block(rule));
    }
    program.push(Insn::mov32_imm(Reg::R0, i32::from(default)));
    program.push(Insn::exit());
    program
}

/// One rule's block: each test that fails jumps past the block's end.
fn block(rule: &DeviceRule) -> Vec<Insn> {
    // The tests, with a placeholder offset filled in below.
    let mut tests = Vec::new();
    match rule.kind {
        DeviceType::All => {}
        DeviceType::Char => tests.push(Insn::jne(Reg::R2, DEV_CHAR, 0)),
        DeviceType::Block => tests.push(Insn::jne(Reg::R2, DEV_BLOCK, 0)),
    }
    if rule.access != Access::ALL {
        // Matches if the access asked for is within the rule's: (r3 & !access) == 0.
        tests.push(Insn::mov32(Reg::R1, Reg::R3));
        tests.push(Insn::and32(Reg::R1, !i32::from(rule.access.0)));
        tests.push(Insn::jne(Reg::R1, 0, 0));
    }
    for (reg, number) in [(Reg::R4, rule.major), (Reg::R5, rule.minor)] {
        if let Some(n) = number {
            // Device numbers are below 2^20: they fit an immediate.
            tests.push(Insn::jne(reg, n as i32, 0));
        }
    }
    tests.push(Insn::mov32_imm(Reg::R0, i32::from(rule.allow)));
    tests.push(Insn::exit());
    let len = tests.len();
    for (i, insn) in tests.iter_mut().enumerate() {
        if insn.code == Insn::jne(Reg::R0, 0, 0).code {
            insn.off = (len - 1 - i) as i16; // to the first instruction after the block
        }
    }
    tests
}
// ANCHOR_END: program

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::asm::disassemble;
    use crate::devices::rules::{allowlist, docker_defaults};

    /// Runs a program the way the kernel would, on one device access: enough of an eBPF
    /// interpreter for the seven instructions, to check the logic without root.
    fn run(program: &[Insn], kind: i32, access: u8, major: u32, minor: u32) -> i32 {
        let ctx = [(u32::from(access) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 6];
        let mut pc = 0;
        loop {
            let insn = program[pc];
            let (dst, src) = (usize::from(insn.regs & 0xf), usize::from(insn.regs >> 4));
            let word = |v: u64| v & 0xffff_ffff;
            match insn.code {
                0x61 => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[insn.off as usize / 4]);
                }
                0x54 => r[dst] = word(r[dst] & u64::from(insn.imm as u32)),
                0x74 => r[dst] = word(r[dst]) >> insn.imm,
                0xb4 => r[dst] = u64::from(insn.imm as u32),
                0xbc => r[dst] = word(r[src]),
                0x55 => {
                    if r[dst] != insn.imm as i64 as u64 {
                        pc += insn.off as usize;
                    }
                }
                0x95 => return r[0] as i32,
                code => panic!("unknown opcode {code:#x}"),
            }
            pc += 1;
        }
    }

    const READ: u8 = Access::READ;
    const WRITE: u8 = Access::WRITE;
    const MKNOD: u8 = Access::MKNOD;

    #[test]
    fn the_default_program_allows_the_defaults_only() {
        let program = program(&allowlist(false, &[]));
        let allowed = |kind, access, major, minor| run(&program, kind, access, major, minor) == 1;
        assert!(allowed(DEV_CHAR, READ | WRITE, 1, 3), "/dev/null");
        assert!(allowed(DEV_CHAR, READ, 136, 7), "a pty");
        assert!(allowed(DEV_BLOCK, MKNOD, 7, 0), "mknod of a loop device");
        assert!(!allowed(DEV_BLOCK, READ, 7, 0), "reading it");
        assert!(!allowed(DEV_BLOCK, READ | MKNOD, 8, 0), "read and mknod");
        assert!(!allowed(DEV_CHAR, READ, 1, 1), "/dev/mem");
        assert!(!allowed(DEV_CHAR, WRITE, 1, 11), "/dev/kmsg");
        // One block per rule after the first, each of at most 7 instructions.
        assert!(
            program.len() <= 6 + 7 * docker_defaults().len() + 2,
            "{}",
            disassemble(&program)
        );
    }

    #[test]
    fn later_rules_win_and_privileged_allows_all() {
        let read_loop: DeviceRule = "b 7:0 r".parse().unwrap();
        let program = program(&allowlist(false, &[read_loop]));
        assert_eq!(run(&program, DEV_BLOCK, READ, 7, 0), 1);
        assert_eq!(run(&program, DEV_BLOCK, WRITE, 7, 0), 0, "r only");
        assert_eq!(run(&program, DEV_BLOCK, READ, 7, 1), 0, "another minor");
        let deny_null = DeviceRule {
            allow: false,
            ..DeviceRule::allow(DeviceType::Char, Some(1), Some(3), Access::ALL.0)
        };
        let program = super::program(&allowlist(false, &[deny_null]));
        assert_eq!(run(&program, DEV_CHAR, READ, 1, 3), 0);
        let all = super::program(&allowlist(true, &[]));
        assert_eq!(all.len(), 8, "{}", disassemble(&all));
        assert_eq!(run(&all, DEV_BLOCK, READ | WRITE, 8, 0), 1);
    }
}
