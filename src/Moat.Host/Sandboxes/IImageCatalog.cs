namespace Moat.Host.Sandboxes;

/// <summary>An image ready to be a sandbox's lower layer.</summary>
public sealed record ResolvedImage(string Digest, string RootfsPath, IReadOnlyList<string> Env, IReadOnlyList<string> Command);

/// <summary>Where the agent finds images by name or digest.</summary>
public interface IImageCatalog
{
    /// <summary>The image, or an <see cref="InvalidRequestException"/> naming the images that do exist.</summary>
    ResolvedImage Resolve(string reference);
}
