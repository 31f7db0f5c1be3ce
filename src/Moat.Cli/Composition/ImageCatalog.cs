using Moat.Host;
using Moat.Host.Sandboxes;
using Moat.Images.Store;

namespace Moat.Cli.Composition;

/// <summary>The host agent's view of the image store: a reference becomes a lower layer to mount.</summary>
public sealed class ImageCatalog(ImageStore store) : IImageCatalog
{
    public static IImageCatalog ForStateDir(string stateDir) => new ImageCatalog(ImageStore.Open(Path.Combine(stateDir, "images")));

    public ResolvedImage Resolve(string reference)
    {
        ImageInfo? image;
        try
        {
            image = store.Resolve(reference);
        }
        catch (Moat.Images.ImageException e)
        {
            throw new InvalidRequestException(e.Message, notFound: true);
        }

        if (image is null)
        {
            var names = string.Join(", ", store.List().SelectMany(i => i.Tags).Order(StringComparer.Ordinal));
            throw new InvalidRequestException(
                $"image '{reference}' is not on this host; known images: {(names.Length == 0 ? "none (build one with 'moat image build busybox')" : names)}.",
                notFound: true);
        }

        var config = image.Config;
        return new ResolvedImage(image.Digest, store.RootfsPath(image), config.Env, [.. config.Entrypoint, .. config.Cmd]);
    }
}
