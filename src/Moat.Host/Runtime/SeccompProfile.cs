using System.Text.Json.Nodes;

namespace Moat.Host.Runtime;

/// <summary>
/// Moat's default seccomp profile: everything a normal program needs stays allowed, and the calls that act on the
/// whole machine (kernel modules, kexec, BPF, perf, keyrings, clocks, swap, mounts, namespaces, handle-based opens,
/// cross-process memory access, reboot) fail with EPERM. A deny-list is weaker than Docker's allow-list against
/// unknown new syscalls; docs/sandboxes.md says so and why (compatibility across images and runtimes).
/// </summary>
internal static class SeccompProfile
{
    public static readonly string[] Denied =
    [
        "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module", "finit_module",
        "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl",
        "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount", "mount_setattr",
        "move_mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open",
        "pivot_root", "process_vm_readv", "process_vm_writev", "query_module", "quotactl", "quotactl_fd", "reboot",
        "request_key", "set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon", "_sysctl", "syslog",
        "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vhangup", "vm86", "vm86old",
    ];

    public static JsonObject Default() => new()
    {
        ["defaultAction"] = "SCMP_ACT_ALLOW",
        ["architectures"] = new JsonArray("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
        ["syscalls"] = new JsonArray(new JsonObject
        {
            ["names"] = new JsonArray(Denied.Select(n => (JsonNode)n).ToArray()),
            ["action"] = "SCMP_ACT_ERRNO",
            ["errnoRet"] = 1,
        }),
    };
}
