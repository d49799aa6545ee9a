import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config';
import { pagePolicy } from './page';

const bindings = env as unknown as Record<string, string>;

describe('the page policy', () => {
  it('scripts, styles, fonts and connections from the page’s own origin; images also from ALLOWED_IMAGE_ORIGINS', () => {
    const policy = pagePolicy(
      loadConfig({
        ...bindings,
        ALLOWED_IMAGE_ORIGINS: 'https://images.example.com, https://CDN.example.org/',
        FRAME_ANCESTORS: "'self', https://dashboard.example.com",
      }),
    );
    const directives = Object.fromEntries(policy.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1)]));
    expect(directives).toEqual({
      'default-src': ["'none'"],
      'script-src': ["'self'"],
      'style-src': ["'self'"],
      'img-src': ["'self'", 'https://images.example.com', 'https://cdn.example.org'],
      'font-src': ["'self'"],
      'connect-src': ["'self'"],
      'manifest-src': ["'self'"],
      'base-uri': ["'none'"],
      'form-action': ["'self'"],
      'frame-ancestors': ["'self'", 'https://dashboard.example.com'],
    });
  });

  it('images from nowhere and framing by nobody by default', () => {
    const policy = pagePolicy(loadConfig(env));
    expect(policy).toContain("img-src 'self';");
    expect(policy).toContain("frame-ancestors 'none'");
  });

  it('data: images on the API reference page only (Swagger UI draws its icons so), never on the chat page', () => {
    const config = loadConfig(env);
    for (const path of ['/reference', '/reference.html']) {
      expect(pagePolicy(config, path), path).toContain("img-src 'self' data:;");
    }
    for (const path of ['/', '/index.html', '/c/123', '/reference.html/x']) {
      expect(pagePolicy(config, path), path).toContain("img-src 'self';");
    }
  });

  it('refuses an image origin with a path, a wildcard or another scheme', () => {
    for (const bad of ['https://images.example.com/cats', '*', 'data:', 'javascript:alert(1)', 'ftp://x.example']) {
      expect(() => loadConfig({ ...bindings, ALLOWED_IMAGE_ORIGINS: bad }), bad).toThrow(/ALLOWED_IMAGE_ORIGINS/);
      expect(() => loadConfig({ ...bindings, FRAME_ANCESTORS: bad }), bad).toThrow(/FRAME_ANCESTORS/);
    }
  });
});
