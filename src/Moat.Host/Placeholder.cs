namespace Moat.Host; internal static class Placeholder { }
