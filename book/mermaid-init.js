// Start mermaid with a diagram theme that matches the book's theme.
//
// Based on the file `mdbook-mermaid install` writes (MPL-2.0, Jan-Erik Rediger). That version
// reloads the page when you click a theme of the other brightness, but not when you pick
// "Auto" or when the system switches between light and dark. Here we watch the class on
// <html>, which mdBook changes for every one of those cases, and reload only when the
// brightness flips: mermaid draws colours into the SVG, so it must render again.
(() => {
    const darkThemes = ['ayu', 'navy', 'coal'];
    const html = document.documentElement;
    const isDark = () => darkThemes.some((theme) => html.classList.contains(theme));

    const renderedDark = isDark();
    mermaid.initialize({ startOnLoad: true, theme: renderedDark ? 'dark' : 'default' });

    new MutationObserver(() => {
        if (isDark() !== renderedDark) {
            window.location.reload();
        }
    }).observe(html, { attributes: true, attributeFilter: ['class'] });
})();
