using System.Runtime.ExceptionServices;
using System.Runtime.Versioning;

namespace Moat.Linux.Namespaces;

/// <summary>
/// Runs code inside a network namespace on a thread made for it. setns() moves only the calling thread,
/// so the work never runs on a pool thread: the thread ends with the work and its namespace dies with it.
/// The work must be synchronous and must not queue thread-pool work: a thread is born in the namespaces of the
/// thread that starts it, so a pool worker started from inside would live in the namespace for good.
/// </summary>
[SupportedOSPlatform("linux")]
public static class NamespaceRunner
{
    private const int StackSize = 256 * 1024;

    public static void Run(NetworkNamespace ns, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        Run(ns, () =>
        {
            action();
            return true;
        });
    }

    public static T Run<T>(NetworkNamespace ns, Func<T> func)
    {
        ArgumentNullException.ThrowIfNull(ns);
        return OnFreshThread(() =>
        {
            Interop.Check(Interop.SetNs(ns.Handle, Interop.CLONE_NEWNET), $"setns into network namespace {ns.Path}");
            return func();
        });
    }

    /// <summary>Runs <paramref name="func"/> inside <paramref name="ns"/> without blocking the caller.</summary>
    /// <remarks>Cancellation stops the wait, not the work: a system call already made in the namespace completes.</remarks>
    public static Task<T> RunAsync<T>(NetworkNamespace ns, Func<T> func, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentNullException.ThrowIfNull(func);
        cancellationToken.ThrowIfCancellationRequested();
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(
            () =>
            {
                // Completing the task may make the thread pool start a worker, and a new thread is born in the
                // namespaces of the thread that starts it: this thread goes home before it completes anything.
                T result = default!;
                Exception? failure = null;
                try
                {
                    using var home = Interop.OpenReadOnly("/proc/thread-self/ns/net");
                    Interop.Check(Interop.SetNs(ns.Handle, Interop.CLONE_NEWNET), $"setns into network namespace {ns.Path}");
                    try
                    {
                        result = func();
                    }
                    catch (Exception e)
                    {
                        failure = e;
                    }

                    if (Interop.SetNs(home, Interop.CLONE_NEWNET) < 0)
                    {
                        Environment.FailFast($"Could not return a thread to its own network namespace after running in {ns.Path}.");
                    }
                }
                catch (Exception e)
                {
                    // Opening our own namespace or entering the target failed: this thread never left home.
                    failure ??= e;
                }

                if (failure is null)
                {
                    completion.TrySetResult(result);
                }
                else
                {
                    completion.TrySetException(failure);
                }
            },
            StackSize)
        { IsBackground = true, Name = "moat-netns" };
        thread.Start();
        return completion.Task.WaitAsync(cancellationToken);
    }

    public static Task RunAsync(NetworkNamespace ns, Action action, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(action);
        return RunAsync(
            ns,
            () =>
            {
                action();
                return true;
            },
            cancellationToken);
    }

    /// <summary>Runs <paramref name="func"/> on a new thread that ends afterwards, whatever namespaces it entered.</summary>
    internal static T OnFreshThread<T>(Func<T> func)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(
            () =>
            {
                try
                {
                    result = func();
                }
                catch (Exception e)
                {
                    failure = ExceptionDispatchInfo.Capture(e);
                }
            },
            StackSize)
        { IsBackground = true, Name = "moat-netns" };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }
}
