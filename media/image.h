/* Still images in: PNG through libpng, JPEG/WebP/anything else FFmpeg decodes. */
#ifndef WR_IMAGE_H
#define WR_IMAGE_H

#include "media/frames.h"

/* Reads one image as a 1-frame clip (8-bit RGB). A video file gives its first frame. */
wr_status wr_image_read(const char *path, wr_frames *out);

#endif
