// The little JSON that e3core's export metadata needs: a flat object of strings, and values
// that are a string, a number or an array of strings. Throws std::invalid_argument.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace e3core::json {

class Reader {
 public:
  explicit Reader(const std::string& text) : text_(text) {}

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }

  bool consume(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }

  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }

  std::string string() {
    expect('"');
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) break;
      char e = text_[pos_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u':
          out += unicode();
          break;
        default:
          out += e;  // \" \\ \/
      }
    }
    expect('"');
    return out;
  }

  double number() {
    skip_space();
    size_t used = 0;
    double value = 0;
    try {
      value = std::stod(text_.substr(pos_), &used);
    } catch (const std::exception&) {
      fail("expected a number");
    }
    pos_ += used;
    return value;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument(what + " at character " + std::to_string(pos_) + " of '" + text_ +
                                "'");
  }

 private:
  // \uXXXX as UTF-8 (surrogate pairs are not combined: metadata is ASCII in practice).
  std::string unicode() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    uint32_t code = static_cast<uint32_t>(std::stoul(text_.substr(pos_, 4), nullptr, 16));
    pos_ += 4;
    std::string out;
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
    return out;
  }

  const std::string& text_;
  size_t pos_ = 0;
};

/// {"name": "text", ...}
inline std::map<std::string, std::string> parse_string_object(const std::string& text) {
  Reader reader(text);
  std::map<std::string, std::string> out;
  reader.expect('{');
  if (!reader.consume('}')) {
    do {
      std::string key = reader.string();
      reader.expect(':');
      out[key] = reader.string();
    } while (reader.consume(','));
    reader.expect('}');
  }
  if (!reader.at_end()) reader.fail("unexpected text after the object");
  return out;
}

inline std::string parse_string(const std::string& text) {
  Reader reader(text);
  std::string out = reader.string();
  if (!reader.at_end()) reader.fail("unexpected text after the string");
  return out;
}

inline double parse_number(const std::string& text) {
  Reader reader(text);
  double out = reader.number();
  if (!reader.at_end()) reader.fail("unexpected text after the number");
  return out;
}

/// ["a", "b", ...]
inline std::vector<std::string> parse_string_array(const std::string& text) {
  Reader reader(text);
  std::vector<std::string> out;
  reader.expect('[');
  if (!reader.consume(']')) {
    do {
      out.push_back(reader.string());
    } while (reader.consume(','));
    reader.expect(']');
  }
  if (!reader.at_end()) reader.fail("unexpected text after the array");
  return out;
}

}  // namespace e3core::json
