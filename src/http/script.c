/*
 * script.c - GET base_path/session.js: the client script a page (ours or the application's)
 * includes with <script src=".../session.js" defer>. It
 *   - reads the session's deadlines and CSRF token from whoami (same origin, the cookie goes);
 *     without a session it does nothing more (a public page may include it too);
 *   - sends POST keepalive on user activity, at most once per throttle period (a tenth of the
 *     idle timeout, between 15 s and 5 min), with the session's X-CSRF-Token once whoami gave
 *     it (before that, the browser's Sec-Fetch-Site and Origin are the same-origin evidence:
 *     an empty token would be refused);
 *   - shows a warning with a "stay signed in" button shortly before the idle deadline (a minute,
 *     or a quarter of the idle timeout when that is shorter);
 *   - on logout (a form posting to base_path/logout, or a 401 from keepalive) tells every other
 *     tab through BroadcastChannel, or a localStorage write where that is missing, and every tab
 *     goes to the login page.
 * Server time comes from the Date header, so a wrong client clock does not matter. No inline
 * code is needed, so pages keep a strict CSP; the strings follow <html lang>.
 */
#include "http/auth.h"
#include "http/pages.h"

const char sessd_page_script[] =
    "(()=>{'use strict';\n"
    "const me=document.currentScript,base=me.src.replace(/\\/session\\.js(\\?.*)?$/,'');\n"
    "const T={en:['You will be signed out soon because of inactivity.','Stay signed in'],\n"
    "fr:['Vous serez bientôt déconnecté pour inactivité.','Rester connecté'],\n"
    "de:['Sie werden wegen Inaktivität bald abgemeldet.','Angemeldet bleiben']};\n"
    "const L=T[(document.documentElement.lang||'en').slice(0,2)]||T.en,KEY='sessiond-logout';\n"
    "let csrf='',skew=0,idle=0,timeout=60,last=Date.now(),timer=0,box=null;\n"
    "const bc='BroadcastChannel' in self?new BroadcastChannel('sessiond'):null;\n"
    "const "
    "toLogin=()=>location.assign(base+'/"
    "login?rd='+encodeURIComponent(location.pathname+location.search));\n"
    "const announce=()=>{if(bc)bc.postMessage('logout');else "
    "try{localStorage.setItem(KEY,String(Date.now()))}catch(e){}};\n"
    "if(bc)bc.onmessage=e=>{if(e.data==='logout')toLogin()};\n"
    "addEventListener('storage',e=>{if(e.key===KEY&&e.newValue)toLogin()});\n"
    "const now=()=>Date.now()/1000+skew;\n"
    "const hide=()=>{if(box){box.remove();box=null}};\n"
    "const warn=()=>{if(box)return;box=document.createElement('div');box.id='sessiond-warning';\n"
    "box.setAttribute('role','alertdialog');box.setAttribute('aria-label',L[1]);\n"
    "const p=document.createElement('p'),b=document.createElement('button');p.textContent=L[0];\n"
    "b.type='button';b.textContent=L[1];b.onclick=keep;box.append(p,b);document.body.append(box);b."
    "focus()};\n"
    "const json={credentials:'same-origin',headers:{'Accept':'application/json'}};\n"
    "function learn(r,j){const "
    "d=Date.parse(r.headers.get('date'));if(d)skew=d/1000-Date.now()/1000;\n"
    "idle=j.idle_expires_at;if(j.csrf_token)csrf=j.csrf_token;timeout=Math.max(timeout,idle-now());"
    "schedule()}\n"
    "function schedule(){clearTimeout(timer);const lead=Math.min(60,timeout/4),left=idle-now();\n"
    "if(left>lead+1){hide();timer=setTimeout(check,(left-lead)*1000)}\n"
    "else{warn();timer=setTimeout(check,Math.max(1,left)*1000)}}\n"
    "function "
    "check(){fetch(base+'/whoami',json).then(r=>{if(r.status===401){hide();if(idle)toLogin()}\n"
    "else if(r.ok)r.json().then(j=>learn(r,j))}).catch(()=>{})}\n"
    "function "
    "keep(){last=Date.now();fetch(base+'/keepalive',{method:'POST',credentials:'same-origin',\n"
    "headers:csrf?{'X-CSRF-Token':csrf,'Accept':'application/json'}:{'Accept':'application/json'}})"
    ".then(r=>{\n"
    "if(r.status===401){announce();toLogin()}else "
    "if(r.ok)r.json().then(j=>learn(r,j))}).catch(()=>{})}\n"
    "const "
    "activity=()=>{if(!box&&Date.now()-last>Math.min(300,Math.max(15,timeout/10))*1000)keep()};\n"
    "for(const ev "
    "of['keydown','pointerdown','scroll','touchstart'])addEventListener(ev,activity,{passive:true})"
    ";\n"
    "document.addEventListener('submit',e=>{if(/\\/logout$/"
    ".test(e.target.getAttribute('action')||''))announce()},true);\n"
    "check();\n"
    "})();\n";

int sessd_auth_script(h2o_req_t *req)
{
    int status = http_send_text(req, 200, "text/javascript; charset=utf-8", sessd_page_script,
                                sizeof(sessd_page_script) - 1);
    return status;
}
