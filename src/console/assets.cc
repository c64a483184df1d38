// The console's style sheet and script, embedded in the binary (no Node.js to build or run, no
// file to deploy). Served from /console/assets/ with a one-hour private cache; both are small
// (docs/console.md gives their sizes against the 150 KiB budget).
#include <string_view>

#include "console/console_impl.h"

namespace chukan::console {

std::string_view ConsoleCss() {
  return R"css(:root{--ink:#1b1f24;--muted:#59636e;--line:#d0d7de;--bg:#f6f8fa;--accent:#0b5cad;
--danger:#b42318;--ok:#1a7f37;font-family:"Noto Sans JP","Hiragino Sans","Yu Gothic",Meiryo,sans-serif}
*{box-sizing:border-box}body{margin:0;color:var(--ink);background:var(--bg);font-size:16px;line-height:1.6}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.5rem;padding:.6rem 1.2rem;
background:#fff;border-bottom:1px solid var(--line)}
.brand{font-weight:700}.who{color:var(--muted)}
nav ul{display:flex;flex-wrap:wrap;gap:.2rem 1rem;margin:0;padding:0;list-style:none}
nav a{color:var(--accent);text-decoration:none;padding:.2rem .1rem}nav a:hover,nav a:focus{text-decoration:underline}
form.logout{margin-left:auto}.lang{color:var(--accent);font-size:.9rem}
main{max-width:72rem;margin:0 auto;padding:1rem 1.2rem 3rem}
h1{font-size:1.5rem;margin:.6rem 0 1rem}h2{font-size:1.15rem;margin:.2rem 0 .6rem}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:1rem 1.2rem;margin:0 0 1rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem}
.figure{font-size:1.8rem;font-weight:700;margin:.2rem 0}
form.card{display:grid;gap:.4rem;max-width:32rem}form.login{margin:2rem auto}
label{font-weight:600}
input,textarea,button{font:inherit}input,textarea{padding:.45rem .6rem;border:1px solid #8c959f;border-radius:6px;width:100%}
textarea{min-height:5rem}
button{padding:.45rem 1rem;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:6px;cursor:pointer}
button.danger{background:#fff;color:var(--danger);border-color:var(--danger)}
button:focus-visible,a:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid #f0b400;outline-offset:2px}
.error{color:var(--danger);font-weight:600}.notice{color:var(--ok);font-weight:600}.hint{color:var(--muted)}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid var(--line);padding:.4rem .6rem;text-align:left;vertical-align:top}
thead th{background:#eef1f4}.items th{width:40%;font-weight:600}.hidden-value{color:var(--muted)}
section.record{margin:0 0 1.5rem}section.record form{margin-top:.5rem}
pre.answer{background:#fff;border:1px solid var(--line);padding:.8rem;overflow:auto;white-space:pre-wrap;word-break:break-all}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.decide{max-width:40rem}.decide button{margin-right:.5rem}
.qr svg{width:14rem;height:14rem;background:#fff}code.secret{font-size:1.1rem;letter-spacing:.08em;word-break:break-all}
@media (max-width:48rem){header{padding:.5rem .8rem}main{padding:.8rem}.items th{width:50%}}
)css";
}

std::string_view ConsoleJs() {
  return R"js('use strict';
// chukan console: progressive enhancement only; every screen works without this script
// (but 取込, 照合 and the batch inquiry file, which send files and say so in a <noscript>).
var $ = function (id) { return document.getElementById(id); };
// The Content-Type of an upload from the format select's "format;charset" (an empty charset:
// DBM_20113 XML, whose declaration names it).
function mediaType(fmt) {
  var media = fmt[0] === 'jsonl' ? 'application/jsonl' :
    fmt[0] === 'dbm20113' ? 'application/xml' : 'text/csv';
  return fmt[1] ? media + '; charset=' + fmt[1] : media;
}
// An element holding `t` as text (never as markup), with an optional class.
function text(tag, t, cls) {
  var e = document.createElement(tag);
  e.textContent = t;
  if (cls) e.className = cls;
  return e;
}
document.addEventListener('click', function (e) {
  var b = e.target.closest('button[data-confirm]');
  if (b && !window.confirm(b.getAttribute('data-confirm'))) e.preventDefault();
});
// Lists of work in progress refresh themselves (data-refresh = seconds).
(function () {
  var r = document.querySelector('[data-refresh]');
  if (!r) return;
  var s = parseInt(r.getAttribute('data-refresh'), 10);
  if (s > 0 && s < 3600) window.setTimeout(function () { window.location.reload(); }, s * 1000);
})();
// 取込: the upload with its two progress bars, then the report.
(function () {
  var form = document.getElementById('import-form');
  if (!form) return;
  // DBM_20113 says 登録 or 削除 per record: upsert only (the server refuses the others too).
  function lockMode() {
    var dbm = $('format').value.split(';')[0] === 'dbm20113';
    if (dbm) $('mode').value = 'upsert';
    Array.prototype.forEach.call($('mode').options, function (o) {
      o.disabled = dbm && o.value !== 'upsert';
    });
  }
  $('format').addEventListener('change', lockMode);
  lockMode();
  function report(status, body) {
    var out = $('import-result');
    out.hidden = false;
    out.replaceChildren();
    if (body.error) { out.appendChild(text('p', body.error, 'error')); return; }
    if (body.committed) {
      out.appendChild(text('p', '取り込みました: ' + body.rows + ' 行（追加 ' + body.inserted +
        '、更新 ' + body.updated + '、削除 ' + body.deleted + '）', 'notice'));
      return;
    }
    out.appendChild(text('p', 'ファイルに誤りがあるため、何も取り込んでいません（誤り ' +
      body.problem_count + ' 件）。', 'error'));
    var table = document.createElement('table');
    table.className = 'list';
    table.id = 'import-problems';
    var head = document.createElement('tr');
    ['行', '項目', '内容'].forEach(function (h) { head.appendChild(text('th', h)); });
    table.appendChild(head);
    (body.problems || []).forEach(function (p) {
      var tr = document.createElement('tr');
      tr.appendChild(text('td', String(p.line) + (p.record ? '（' + p.record + ' 件目）' : '')));
      tr.appendChild(text('td', p.field));
      tr.appendChild(text('td', p.message));
      table.appendChild(tr);
    });
    out.appendChild(table);
  }
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var file = $('file').files[0];
    if (!file) return;
    var fmt = $('format').value.split(';');
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var job = Array.prototype.map.call(bytes, function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
    $('import-progress').hidden = false;
    $('import-start').disabled = true;
    var done = false;
    function poll() {
      fetch('/console/imports/progress?job=' + job, { credentials: 'same-origin' })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          if (p.phase === 'receiving') $('process-text').textContent = p.rows + ' 行を受け取りました';
          if (p.phase === 'applying') $('process-text').textContent = p.rows + ' 行を確認し、書き込んでいます';
          if (p.phase === 'committing') $('process-text').textContent = p.rows + ' 件を書き込み、確定しています';
          if (!done) window.setTimeout(poll, 500);
        })
        .catch(function () { if (!done) window.setTimeout(poll, 1000); });
    }
    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/console/imports/upload?job=' + job + '&tm=' + encodeURIComponent($('tm').value) +
      '&mode=' + encodeURIComponent($('mode').value) + '&format=' + fmt[0]);
    xhr.setRequestHeader('X-CSRF-Token', form.getAttribute('data-csrf'));
    xhr.setRequestHeader('Content-Type', mediaType(fmt));
    xhr.upload.onprogress = function (ev) {
      if (!ev.lengthComputable) return;
      $('upload-bar').value = Math.floor(ev.loaded * 100 / ev.total);
      $('upload-text').textContent = (ev.loaded / 1048576).toFixed(1) + ' / ' +
        (ev.total / 1048576).toFixed(1) + ' MiB を送信しました';
    };
    xhr.onload = function () {
      done = true;
      $('process-bar').value = 1;
      $('process-bar').max = 1;
      $('process-text').textContent = '処理が終わりました';
      $('import-start').disabled = false;
      var body;
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = { error: '応答を読めませんでした（' + xhr.status + '）。' }; }
      report(xhr.status, body);
    };
    xhr.onerror = function () {
      done = true;
      $('import-start').disabled = false;
      report(0, { error: '送信に失敗しました。接続を確かめて、もう一度お試しください。' });
    };
    window.setTimeout(poll, 300);
    xhr.send(file);
  });
})();


// 照合: the original file sent, the differences shown, the report downloadable as CSV.
(function () {
  var form = document.getElementById('reconcile-form');
  if (!form) return;
  function csvCell(v) {
    var s = String(v);
    if (/^[=+\-@]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function show(body) {
    var out = $('reconcile-result');
    out.hidden = false;
    out.replaceChildren();
    if (body.error) { out.appendChild(text('p', body.error, 'error')); return; }
    out.appendChild(text('p', '原本 ' + body.rows + ' 行: 一致 ' + body.matching + '、副本になし ' +
      body.missing + '、原本になし ' + body.extra + '、値の違い ' + body.different +
      (body.problem_count ? '、原本の誤り ' + body.problem_count : ''), 'notice'));
    var rows = [['種類', '行', '宛名番号', '項目']];
    (body.missing_lines || []).forEach(function (l) { rows.push(['副本になし', l, '', '']); });
    (body.differences || []).forEach(function (d) { rows.push(['値の違い', d.line, '', d.fields.join(' ')]); });
    (body.extra_atena_nos || []).forEach(function (a) { rows.push(['原本になし', '', a, '']); });
    (body.problems || []).forEach(function (p) { rows.push(['原本の誤り', p.line, '', p.field + ' ' + p.message]); });
    var table = document.createElement('table');
    table.className = 'list';
    table.id = 'reconcile-differences';
    rows.forEach(function (r, i) {
      var tr = document.createElement('tr');
      r.forEach(function (c) { tr.appendChild(text(i === 0 ? 'th' : 'td', String(c))); });
      table.appendChild(tr);
    });
    out.appendChild(table);
    var csv = '\ufeff' + rows.map(function (r) { return r.map(csvCell).join(','); }).join('\r\n') + '\r\n';
    var a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    a.download = 'reconcile-' + body.tm + '.csv';
    a.id = 'reconcile-download';
    a.textContent = '照合結果を CSV でダウンロード';
    out.appendChild(a);
  }
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var file = $('file').files[0];
    if (!file) return;
    var fmt = $('format').value.split(';');
    $('reconcile-start').disabled = true;
    fetch('/console/reconcile/upload?tm=' + encodeURIComponent($('tm').value) + '&format=' + fmt[0], {
      method: 'POST', credentials: 'same-origin', body: file,
      headers: { 'X-CSRF-Token': form.getAttribute('data-csrf'),
        'Content-Type': mediaType(fmt) }
    }).then(function (r) { return r.json(); })
      .then(show)
      .catch(function () { show({ error: '照合できませんでした。接続を確かめて、もう一度お試しください。' }); })
      .finally(function () { $('reconcile-start').disabled = false; });
  });
})();

// 情報照会: the batch inquiry file sent, each line's inquiry or errors shown.
(function () {
  var form = document.getElementById('batch-form');
  if (!form) return;
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var file = $('batch-file').files[0];
    if (!file) return;
    $('batch-start').disabled = true;
    // The file's name names the result file (P640R110_…_RESULT.DAT) when the server accepts it.
    var name = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(file.name) ? file.name : '';
    fetch('/console/inquiries/batch' + (name ? '?name=' + encodeURIComponent(name) : ''), {
      method: 'POST', credentials: 'same-origin', body: file,
      headers: { 'X-CSRF-Token': form.getAttribute('data-csrf'),
        'Content-Type': 'text/plain; charset=' + $('batch-charset').value }
    }).then(function (r) { return r.json(); }).then(function (body) {
      var out = $('batch-result');
      out.hidden = false;
      out.replaceChildren();
      if (body.error) { var p = text('p', body.error); p.className = 'error'; out.appendChild(p); return; }
      var p2 = text('p', body.lines + ' 行: 受付 ' + body.accepted + ' 件、受付できず ' + body.failed +
        ' 件、重複 ' + body.duplicates + ' 件');
      p2.className = body.failed || body.duplicates ? 'error' : 'notice';
      out.appendChild(p2);
      // The result file, once every line has ended: the batch's progress asked every 3 s.
      var status = text('p', '照会結果ファイル: 回答を待っています…');
      status.id = 'batch-status';
      out.appendChild(status);
      var poll = function () {
        fetch('/console/inquiries/batch/' + body.batch_id, { credentials: 'same-origin' })
          .then(function (r) { return r.json(); }).then(function (s) {
            if (s.error) { status.textContent = s.error; return; }
            if (s.result_file !== 'ready') {
              status.textContent = '照会結果ファイル: 回答待ち ' + s.open + ' 行（全 ' + s.lines + ' 行）';
              setTimeout(poll, 3000);
              return;
            }
            status.replaceChildren();
            var a = text('a', '照会結果ファイルをダウンロード（' + s.result_file_name + '）');
            a.id = 'batch-result-file';
            a.href = '/console/inquiries/batch/' + body.batch_id + '/result-file';
            a.setAttribute('download', s.result_file_name);
            status.appendChild(a);
          }).catch(function () { setTimeout(poll, 3000); });
      };
      poll();
      var table = document.createElement('table');
      table.className = 'list';
      table.id = 'batch-lines';
      var head = document.createElement('tr');
      ['行', '処理通番', '内容'].forEach(function (h) { head.appendChild(text('th', h)); });
      table.appendChild(head);
      (body.results || []).forEach(function (r) {
        var tr = document.createElement('tr');
        tr.appendChild(text('td', String(r.line)));
        tr.appendChild(text('td', r.inquiry_id || ''));
        tr.appendChild(text('td', r.state || (r.duplicate_of ? r.duplicate_of + ' 行目と重複' : '') ||
          (r.errors || []).map(function (x) {
            return (x.field ? x.field + ': ' : '') + x.reason; }).join(' ／ ')));
        table.appendChild(tr);
      });
      out.appendChild(table);
    }).catch(function () {
      $('batch-result').hidden = false;
      $('batch-result').replaceChildren(text('p', '送信に失敗しました。'));
    }).finally(function () { $('batch-start').disabled = false; });
  });
})();
)js";
}

}  // namespace chukan::console
