using System.Text.Json;
using System.Text.Json.Serialization;

namespace Moat.Images.Store;

/// <summary>Source-generated JSON for image.json and the CLI's --json output.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ImageInfo))]
[JsonSerializable(typeof(List<ImageInfo>))]
internal sealed partial class ImageJson : JsonSerializerContext
{
    internal static ImageInfo Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), Default.ImageInfo)
                ?? throw new ImageException($"{path} is empty; expected an image description.");
        }
        catch (JsonException ex)
        {
            throw new ImageException($"{path} is not a valid image description: {ex.Message}", ex);
        }
    }

    /// <summary>Replaces <paramref name="path"/> atomically: write a sibling, flush, rename over.</summary>
    internal static void Write(string path, ImageInfo image)
    {
        string temp = path + ".new";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, image, Default.ImageInfo);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
