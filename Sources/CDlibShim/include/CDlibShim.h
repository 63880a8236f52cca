#ifndef NEO_CDLIBSHIM_H
#define NEO_CDLIBSHIM_H

// A small C interface over Debian's dlib (C++): image decoding and encoding, the MMOD CNN face
// detector, the 5-point landmark model, aligned face chips and the 128-D face-identity ResNet.
// Every function reports failure through its return value and a message written into `err`
// (NUL-terminated, at most `errlen` bytes); none throws or aborts.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct neo_face_models neo_face_models;

typedef struct {
    float left, top, right, bottom;
    float confidence;
} neo_face_box;

/// Loads the three dlib models; NULL on failure.
neo_face_models *neo_face_models_load(const char *detector_path, const char *landmarks_path,
                                      const char *recognizer_path, char *err, size_t errlen);
void neo_face_models_free(neo_face_models *models);

/// Decodes a PNG, JPEG or BMP file into 8-bit RGB (row-major, 3 bytes a pixel). The buffer is
/// allocated with malloc; release it with neo_image_free. Returns 0 on success.
int neo_image_load(const char *path, unsigned char **rgb, int *width, int *height, char *err, size_t errlen);
void neo_image_free(unsigned char *rgb);

/// Encodes RGB as PNG (quality <= 0) or as JPEG at `quality` (1...100). Returns 0 on success.
int neo_image_save(const char *path, const unsigned char *rgb, int width, int height, int quality,
                   char *err, size_t errlen);

/// Runs the MMOD CNN detector after `upsample` doublings of the image. Writes up to `max_faces`
/// boxes (in the original image's pixels) and returns how many faces were found, or -1.
int neo_face_detect(neo_face_models *models, const unsigned char *rgb, int width, int height,
                    int upsample, neo_face_box *boxes, int max_faces, char *err, size_t errlen);

/// The five landmarks (x0, y0, ..., x4, y4) inside `box`. Returns 0 on success.
int neo_face_landmarks(neo_face_models *models, const unsigned char *rgb, int width, int height,
                       const neo_face_box *box, float *points, char *err, size_t errlen);

/// The face aligned by its five landmarks into a size×size RGB chip with dlib's padding
/// convention (0.25 for the identity network, 0.2 for the age network). Returns 0 on success.
int neo_face_chip(const unsigned char *rgb, int width, int height, const float *points,
                  int size, double padding, unsigned char *chip, char *err, size_t errlen);

/// The 128-D identity embedding of a 150×150 chip (padding 0.25). Returns 0 on success.
int neo_face_embed(neo_face_models *models, const unsigned char *chip150, float *embedding,
                   char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
