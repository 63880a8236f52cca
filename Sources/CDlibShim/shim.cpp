// C shim over dlib's C++ face models. dlib's networks are C++ templates: the two network types
// below must match the layers the .dat files were trained with (dlib's published definitions of
// the MMOD face detector and of the face-recognition ResNet v1).
#include "CDlibShim.h"

#include <dlib/dnn.h>
#include <dlib/image_io.h>
#include <dlib/image_processing.h>
#include <dlib/image_transforms.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

using namespace dlib;

namespace {

// MMOD face detector: three stride-2 5×5 convolutions, three 5×5 convolutions, a 9×9 output.
template <long N, typename S> using con5d = con<N, 5, 5, 2, 2, S>;
template <long N, typename S> using con5 = con<N, 5, 5, 1, 1, S>;
template <typename S> using downsampler = relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16, S>>>>>>>>>;
template <typename S> using rcon5 = relu<affine<con5<45, S>>>;
using detector_net = loss_mmod<con<1, 9, 9, 1, 1, rcon5<rcon5<rcon5<downsampler<input_rgb_image_pyramid<pyramid_down<6>>>>>>>>;

// Face-recognition ResNet v1: 29 convolutional layers, 128-D metric output.
template <template <int, template <typename> class, int, typename> class B, int N, template <typename> class BN, typename S>
using residual = add_prev1<B<N, BN, 1, tag1<S>>>;
template <template <int, template <typename> class, int, typename> class B, int N, template <typename> class BN, typename S>
using residual_down = add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<B<N, BN, 2, tag1<S>>>>>>;
template <int N, template <typename> class BN, int stride, typename S>
using block = BN<con<N, 3, 3, 1, 1, relu<BN<con<N, 3, 3, stride, stride, S>>>>>;
template <int N, typename S> using ares = relu<residual<block, N, affine, S>>;
template <int N, typename S> using ares_down = relu<residual_down<block, N, affine, S>>;
template <typename S> using alevel0 = ares_down<256, S>;
template <typename S> using alevel1 = ares<256, ares<256, ares_down<256, S>>>;
template <typename S> using alevel2 = ares<128, ares<128, ares_down<128, S>>>;
template <typename S> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, S>>>>;
template <typename S> using alevel4 = ares<32, ares<32, ares<32, S>>>;
using recognizer_net = loss_metric<fc_no_bias<128, avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<
    max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2, input_rgb_image_sized<150>>>>>>>>>>>>>;

void set_error(char *err, size_t errlen, const std::string &message) {
    if (err == nullptr || errlen == 0) return;
    std::snprintf(err, errlen, "%s", message.c_str());
    // dlib messages span lines; the caller shows one line.
    for (char *p = err; *p; ++p) if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
}

matrix<rgb_pixel> to_matrix(const unsigned char *rgb, int width, int height) {
    matrix<rgb_pixel> img(height, width);
    const unsigned char *p = rgb;
    for (long r = 0; r < height; ++r)
        for (long c = 0; c < width; ++c, p += 3) img(r, c) = rgb_pixel(p[0], p[1], p[2]);
    return img;
}

full_object_detection shape_from(const float *points) {
    std::vector<point> parts(5);
    long minX = 0, minY = 0, maxX = 0, maxY = 0;
    for (int i = 0; i < 5; ++i) {
        parts[i] = point(static_cast<long>(points[2 * i]), static_cast<long>(points[2 * i + 1]));
        if (i == 0 || parts[i].x() < minX) minX = parts[i].x();
        if (i == 0 || parts[i].y() < minY) minY = parts[i].y();
        if (i == 0 || parts[i].x() > maxX) maxX = parts[i].x();
        if (i == 0 || parts[i].y() > maxY) maxY = parts[i].y();
    }
    return full_object_detection(rectangle(minX, minY, maxX, maxY), parts);
}

}  // namespace

struct neo_face_models {
    detector_net detector;
    shape_predictor landmarks;
    recognizer_net recognizer;
};

extern "C" neo_face_models *neo_face_models_load(const char *detector_path, const char *landmarks_path,
                                                 const char *recognizer_path, char *err, size_t errlen) {
    auto *models = new (std::nothrow) neo_face_models();
    if (models == nullptr) { set_error(err, errlen, "out of memory"); return nullptr; }
    const char *current = detector_path;
    try {
        deserialize(detector_path) >> models->detector;
        current = landmarks_path;
        deserialize(landmarks_path) >> models->landmarks;
        current = recognizer_path;
        deserialize(recognizer_path) >> models->recognizer;
    } catch (const std::exception &e) {
        set_error(err, errlen, std::string(current) + ": " + e.what());
        delete models;
        return nullptr;
    }
    if (models->landmarks.num_parts() != 5) {
        set_error(err, errlen, std::string(landmarks_path) + ": expected a 5-point landmark model, found " +
                               std::to_string(models->landmarks.num_parts()) + " points");
        delete models;
        return nullptr;
    }
    return models;
}

extern "C" void neo_face_models_free(neo_face_models *models) { delete models; }

extern "C" int neo_image_load(const char *path, unsigned char **rgb, int *width, int *height, char *err, size_t errlen) {
    try {
        matrix<rgb_pixel> img;
        load_image(img, path);
        if (img.size() == 0) { set_error(err, errlen, "image has no pixels"); return -1; }
        auto *out = static_cast<unsigned char *>(std::malloc(static_cast<size_t>(img.size()) * 3));
        if (out == nullptr) { set_error(err, errlen, "out of memory"); return -1; }
        unsigned char *p = out;
        for (long r = 0; r < img.nr(); ++r)
            for (long c = 0; c < img.nc(); ++c, p += 3) {
                p[0] = img(r, c).red; p[1] = img(r, c).green; p[2] = img(r, c).blue;
            }
        *rgb = out;
        *width = static_cast<int>(img.nc());
        *height = static_cast<int>(img.nr());
        return 0;
    } catch (const std::exception &e) {
        set_error(err, errlen, e.what());
        return -1;
    }
}

extern "C" void neo_image_free(unsigned char *rgb) { std::free(rgb); }

extern "C" int neo_image_save(const char *path, const unsigned char *rgb, int width, int height, int quality,
                              char *err, size_t errlen) {
    try {
        matrix<rgb_pixel> img = to_matrix(rgb, width, height);
        if (quality <= 0) save_png(img, path);
        else save_jpeg(img, path, quality > 100 ? 100 : quality);
        return 0;
    } catch (const std::exception &e) {
        set_error(err, errlen, e.what());
        return -1;
    }
}

extern "C" int neo_face_detect(neo_face_models *models, const unsigned char *rgb, int width, int height,
                               int upsample, neo_face_box *boxes, int max_faces, char *err, size_t errlen) {
    try {
        matrix<rgb_pixel> img = to_matrix(rgb, width, height);
        pyramid_down<2> pyr;
        for (int i = 0; i < upsample; ++i) pyramid_up(img, pyr);
        std::vector<mmod_rect> found = models->detector(img);
        int n = 0;
        for (const auto &d : found) {
            if (n < max_faces) {
                rectangle r = pyr.rect_down(d.rect, static_cast<unsigned int>(upsample));
                boxes[n] = neo_face_box{static_cast<float>(r.left()), static_cast<float>(r.top()),
                                        static_cast<float>(r.right()), static_cast<float>(r.bottom()),
                                        static_cast<float>(d.detection_confidence)};
            }
            ++n;
        }
        return n;
    } catch (const std::exception &e) {
        set_error(err, errlen, e.what());
        return -1;
    }
}

extern "C" int neo_face_landmarks(neo_face_models *models, const unsigned char *rgb, int width, int height,
                                  const neo_face_box *box, float *points, char *err, size_t errlen) {
    try {
        matrix<rgb_pixel> img = to_matrix(rgb, width, height);
        rectangle r(static_cast<long>(box->left), static_cast<long>(box->top),
                    static_cast<long>(box->right), static_cast<long>(box->bottom));
        full_object_detection shape = models->landmarks(img, r);
        for (unsigned long i = 0; i < 5; ++i) {
            points[2 * i] = static_cast<float>(shape.part(i).x());
            points[2 * i + 1] = static_cast<float>(shape.part(i).y());
        }
        return 0;
    } catch (const std::exception &e) {
        set_error(err, errlen, e.what());
        return -1;
    }
}

extern "C" int neo_face_chip(const unsigned char *rgb, int width, int height, const float *points,
                             int size, double padding, unsigned char *chip, char *err, size_t errlen) {
    try {
        matrix<rgb_pixel> img = to_matrix(rgb, width, height);
        matrix<rgb_pixel> out;
        extract_image_chip(img, get_face_chip_details(shape_from(points), static_cast<unsigned long>(size), padding), out);
        unsigned char *p = chip;
        for (long r = 0; r < out.nr(); ++r)
            for (long c = 0; c < out.nc(); ++c, p += 3) {
                p[0] = out(r, c).red; p[1] = out(r, c).green; p[2] = out(r, c).blue;
            }
        return 0;
    } catch (const std::exception &e) {
        set_error(err, errlen, e.what());
        return -1;
    }
}

extern "C" int neo_face_embed(neo_face_models *models, const unsigned char *chip150, float *embedding,
                              char *err, size_t errlen) {
    try {
        matrix<rgb_pixel> chip = to_matrix(chip150, 150, 150);
        matrix<float, 0, 1> d = models->recognizer(chip);
        if (d.size() != 128) { set_error(err, errlen, "recognizer returned " + std::to_string(d.size()) + " values, expected 128"); return -1; }
        for (long i = 0; i < 128; ++i) embedding[i] = d(i);
        return 0;
    } catch (const std::exception &e) {
        set_error(err, errlen, e.what());
        return -1;
    }
}
