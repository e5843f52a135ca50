#include <png.h>
// Swift cannot import libpng's compound format macros; re-export them as constants.
static const unsigned int cpng_format_rgba = PNG_FORMAT_RGBA;
static const unsigned int cpng_format_rgb = PNG_FORMAT_RGB;
static const unsigned int cpng_format_gray = PNG_FORMAT_GRAY;
static const unsigned int cpng_image_version = PNG_IMAGE_VERSION;
static inline int cpng_image_failed(const png_image *image) { return PNG_IMAGE_FAILED(*image); }
static inline size_t cpng_row_stride(const png_image *image) { return PNG_IMAGE_ROW_STRIDE(*image); }
